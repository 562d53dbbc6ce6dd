"""Whose team a user hears: the organisation they last signed in with.

A member who turns e-mail on hears by e-mail what their organisation's team hears (routing.address_book reads
`user_channel_settings.organisation_id`). That organisation used to be stored only at their last
PUT /me/channels, so someone who moved organisation kept getting the old one's team mail - news of another
organisation's referrals - until they happened to save their settings again. Every authenticated request
carries the organisation the token names: when it differs from the stored one, the stored one follows it, and
the change is audited. Free of Flask.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink.db import Database
from worklink.pseudonyms import clinician_reference
from worklink_notifications.models import UserChannelSettings

log = logging.getLogger(__name__)

RESOURCE_TYPE = "user_channel_settings"


def follow_signed_in_organisation(database: Database, audit: AuditTrail, principal: Principal,
                                  reference_key: str) -> bool:
    """Store the organisation `principal` signed in with as their team's, if it changed; True if it did.

    One primary-key read per request; a write only when the organisation changed (re-read under lock, so
    two requests from the moved user record the move once)."""
    with database.sessions() as session:
        stored = session.get(UserChannelSettings, principal.subject)
        if stored is None or stored.organisation_id == principal.organisation:
            return False
    with database.transaction() as session:
        return _move(session, audit, principal, reference_key)


def _move(session: Session, audit: AuditTrail, principal: Principal, reference_key: str) -> bool:
    stored = session.get(UserChannelSettings, principal.subject, with_for_update=True)
    if stored is None or stored.organisation_id == principal.organisation:
        return False
    before, stored.organisation_id = stored.organisation_id, principal.organisation
    # The actor is the user (their login id, and the new organisation as actor_org); the record is named by
    # their reference, which fits the column whatever the login id's length.
    audit.record(session, action="update", resource_type=RESOURCE_TYPE,
                 resource_id=clinician_reference(principal.subject, reference_key), principal=principal,
                 purpose=f"team e-mail follows the organisation signed in with (was {before or 'none'})")
    log.info("team e-mail follows the organisation signed in with",
             extra={"organisation": principal.organisation, "was": before})
    return True
