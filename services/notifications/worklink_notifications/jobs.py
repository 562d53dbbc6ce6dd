"""Background jobs (`worklink job -s notifications deliver`, run by `worklink up`).

deliver: the delivery worker - sends due email and webhook deliveries with retries,
dead-letters what cannot be sent, sends daily digests and erases residents'
addresses when their time is up (see delivery.py).
"""

from __future__ import annotations

import threading

from worklink.config import Settings
from worklink.db import Database


def deliver(settings: Settings, stop: threading.Event) -> None:
    from worklink_notifications.delivery import DeliverySettings, DeliveryWorker

    DeliveryWorker(Database(settings.database_url), DeliverySettings.from_env()).run(stop)


JOBS = {"deliver": deliver}
