"""What the residents' and partner staff's pages share: rendering, labels, finding a listing."""

from __future__ import annotations

import re
import uuid
from flask import current_app, render_template
from werkzeug.wrappers import Response

from worklink.problems import Problem
from worklink.uktime import uk_today
from worklink_directory import services
from worklink_directory.models import DAYS, Service

DAY_LABELS = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
DELIVERY_LABELS = {"in_person": "In person", "online": "Online", "telephone": "By telephone"}
NAV = [("Find support", "/find"), ("Partner staff", "/partner")]


def render(template: str, status: int = 200, **context) -> Response:
    period = current_app.extensions["directory"]["review_period"]
    html = render_template(template, nav=NAV, day_labels=DAY_LABELS, delivery_labels=DELIVERY_LABELS,
                           today=uk_today(), review_due=lambda svc, today: services.is_review_due(svc, today, period),
                           **context)
    return Response(html, status=status, mimetype="text/html")


_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def hhmm(text: str) -> str | None:
    """'9:30', '09.30' -> '09:30'; None when it is not a time of day."""
    match = _TIME.match(text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        return None
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw or "")
    except ValueError:
        return None


def service_or_404(session, raw_id: str, *, for_update: bool = False, places: bool = False) -> Service:
    """The listing; `for_update`: locked for a change (services.lock_for_change) - with `places`, together with every
    listing offered at one of its places, as a change to its places changes them too."""
    service_id = parse_uuid(raw_id)
    if not service_id:
        svc = None
    elif for_update:
        svc = services.lock_for_change(session, service_id, None if places else {})
    else:
        svc = session.get(Service, service_id)
    if svc is None:
        raise Problem(404, "We could not find that service. It may have been removed.", title="Service not found")
    return svc
