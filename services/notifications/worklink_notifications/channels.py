"""A staff member's own channel settings: read and saved here for both the API (GET/PUT /me/channels) and the
settings page (/settings), so the two hold one set of rules and one audit. Free of Flask."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Mapping

from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.pseudonyms import clinician_reference
from worklink.uktime import UK, uk_today
from worklink_notifications.membership import RESOURCE_TYPE
from worklink_notifications.models import UserChannelSettings

DEFAULTS = {"email": None, "inbox_enabled": True, "email_enabled": False, "frequency": "immediate"}


class EmailRequired(ValueError):
    """E-mail turned on without an address to send it to."""

    def __init__(self) -> None:
        super().__init__("Give an email address to turn email on.")


def current(session: Session, principal: Principal) -> UserChannelSettings | dict[str, Any]:
    """The caller's saved settings, or the defaults (inbox on, email off) until they save some."""
    return session.get(UserChannelSettings, principal.subject) or {
        "user_id": principal.subject, "organisation_id": principal.organisation, **DEFAULTS}


def saved_choice(session: Session, principal: Principal) -> dict[str, Any]:
    """The caller's choice alone (email, inbox_enabled, email_enabled, frequency), as a form shows it."""
    found = session.get(UserChannelSettings, principal.subject)
    return {name: getattr(found, name) for name in DEFAULTS} if found else dict(DEFAULTS)


def save(session: Session, audit: AuditTrail, principal: Principal, choice: Mapping[str, Any],
         reference_key: str) -> UserChannelSettings:
    """Store the caller's choice (ChannelSettingsIn, loaded), audited as an update of their settings."""
    if choice["email_enabled"] and not choice["email"]:
        raise EmailRequired()
    found = session.get(UserChannelSettings, principal.subject, with_for_update=True)
    if found is None:
        found = UserChannelSettings(user_id=principal.subject)
        session.add(found)
    found.organisation_id = principal.organisation
    # How events that may not name the login id name this user (routing.user_recipients).
    found.clinician_reference = clinician_reference(principal.subject, reference_key)
    for name, value in choice.items():
        setattr(found, name, value)
    session.flush()
    # Named by the reference, as membership.py names the record (it fits the column whatever the login id);
    # never the address itself.
    audit.record(session, action="update", resource_type=RESOURCE_TYPE, resource_id=found.clinician_reference,
                 principal=principal, purpose="own notification settings changed")
    return found


def digest_time(hour: int, now: datetime | None = None) -> str:
    """NOTIFICATIONS_DIGEST_HOUR, an hour of the UK clock, named as that clock reads today: 17 is "17:00 GMT" in
    winter and "17:00 BST" in summer."""
    return datetime.combine(uk_today(now), time(hour), tzinfo=UK).strftime("%H:%M %Z")
