"""What every view needs: the signed-in clinician, the use cases' dependencies, today."""

from __future__ import annotations

import uuid
from datetime import date

from flask import current_app

from worklink.auth import authenticate
from worklink.db import utcnow
from worklink.problems import Problem
from worklink.web import service_context
from worklink_adjustments.domain import uk_today
from worklink_adjustments.services import Clinician, Deps


def clinician() -> Clinician:
    """A `gp`-role user acting for a practice (their token's `org`, a practice id)."""
    principal = authenticate()
    if principal.role != "gp":
        raise Problem(403, f"Role {principal.role!r} may not do this; it needs the clinician role 'gp'.")
    try:
        practice = uuid.UUID(str(principal.organisation))
    except ValueError:
        raise Problem(403, "Your access token does not name the practice you work for.") from None
    if len(principal.subject) > MAX_SUBJECT:
        # Stored with each suggestion and handed to the referrals service (both at most 128): refused
        # here, before anything is written, rather than failing a later step.
        raise Problem(403, f"Your user id is longer than {MAX_SUBJECT} characters, which WorkLink cannot record; "
                           "ask your administrator for a shorter one.")
    return Clinician(principal.subject, practice, principal)


MAX_SUBJECT = 128


def deps() -> Deps:
    ctx = service_context()
    config = current_app.config
    return Deps(ctx.outbox, ctx.audit, person_key=config["PERSON_KEY"], link_secret=config["EMPLOYER_LINK_SECRET"],
                link_ttl=config["EMPLOYER_LINK_TTL"], clinician_key=config["CLINICIAN_REFERENCE_KEY"],
                previous_link_secrets=config["EMPLOYER_LINK_PREVIOUS_SECRETS"],
                previous_person_keys=config["PREVIOUS_PERSON_KEYS"], guidance=current_app.extensions["adjustments_index"])


def today() -> date:
    """Today in the UK, which decides whether a clinical date is in the future (not the UTC date)."""
    return uk_today(utcnow())
