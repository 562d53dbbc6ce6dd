"""WorkLink's integration events: the one catalogue every service reads.

Broadcast events carry ids, codes and timestamps only (checked by
`broadcast_violations` in the test suite). An event that must hand a person's
details to one other service is `restricted=True` and travels on its own
restricted topic (short retention, one consumer group) - see deploy/topics.toml.

Later issues add types here; a breaking change to a schema is a new version
declared beside the old one, never an edit of it.
"""

from __future__ import annotations

from worklink.events.catalogue import Catalogue
from worklink.events.contracts import adjustments, directory, notifications, platform, referrals

# One module per publishing service; each lists its EVENTS. `platform` declares the events every
# service's pages share (a sign-out everywhere), one type per announcing service.
CATALOGUE = Catalogue([*directory.EVENTS, *adjustments.EVENTS, *referrals.EVENTS, *notifications.EVENTS,
                       *platform.EVENTS])
