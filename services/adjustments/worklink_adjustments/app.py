"""Application factory for the adjustments service."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any, Mapping

from flask import Flask, current_app

from worklink.config import DEV_JWT_SECRET, ConfigError, Settings
from worklink.events.catalogue import Catalogue
from worklink.events.contracts import CATALOGUE
from worklink.keyring import previous_keys
from worklink.problems import problem_response
from worklink.pseudonyms import clinician_reference_key  # noqa: F401  (seed.py imports it from here)
from worklink.web import create_service_app
from worklink.web.pages import RolePage
from worklink_adjustments import api
from worklink_adjustments.config import person_key, previous_person_keys
from worklink_adjustments.config import link_ttl_days, referrals_url
from worklink_adjustments.domain import DomainError
from worklink_adjustments.knowledge import IndexCache
from worklink_adjustments.models import PLATFORM
from worklink_adjustments.services import person_reference


def create_app(config: Mapping[str, Any] | None = None, settings: Settings | None = None,
               catalogue: Catalogue = CATALOGUE) -> Flask:
    app, rest_api = create_service_app(
        "adjustments", __name__, tables=PLATFORM, config=config, settings=settings, catalogue=catalogue,
        title="WorkLink Adjustments",
        description="Reasonable-adjustment guidance for clinicians and their fit-note-shaped adjustment suggestions.",
        audit_person=_audit_person,
    )
    settings = app.extensions["worklink"].settings
    app.config.setdefault("PERSON_KEY", person_key(os.environ))
    app.config.setdefault("PREVIOUS_PERSON_KEYS", previous_person_keys(os.environ))
    app.config.setdefault("EMPLOYER_LINK_SECRET", _link_secret(settings))
    app.config.setdefault("EMPLOYER_LINK_PREVIOUS_SECRETS", previous_keys(os.environ, LINK_SECRET_VARIABLE))
    app.config.setdefault("CLINICIAN_REFERENCE_KEY", clinician_reference_key(settings))
    app.config.setdefault("EMPLOYER_LINK_TTL", timedelta(days=link_ttl_days(os.environ)))
    app.extensions["adjustments_index"] = IndexCache()
    app.config.setdefault("WORKLINK_ROLE_HOME_PAGES", _role_home_pages(settings))

    @app.errorhandler(DomainError)
    def domain_problem(error: DomainError):
        return problem_response(error.status, error.detail, **error.extensions)

    api.register(rest_api)
    from worklink_adjustments.pages.views import pages
    app.register_blueprint(pages)
    return app


def _role_home_pages(settings: Settings) -> dict[str, RolePage | str]:
    """No page here is an adviser's: a page refused to one (and sign-in here) leads to their referral queue,
    not to this service's start page, which refuses them too; without the referrals site's address, nowhere ("").
    The link says where it goes: another site, not this one's start page."""
    referrals = referrals_url(os.environ, settings.env)
    if not referrals:
        return {"adviser": ""}
    return {"adviser": RolePage(f"{referrals}/queue", "your referrals queue on WorkLink Referrals")}


def _audit_person(typed: str) -> str:
    """The audit review's `person`: a patient asked about by NHS number (spaces and hyphens ignored) is found by
    its reference, as the trail names them; anything else (a reference, an erased suggestion's id) as it is.
    Any ten digits count, a mistyped number too, so the review's own entry never holds one."""
    digits = re.sub(r"[\s-]", "", typed)
    if not re.fullmatch(r"[0-9]{10}", digits):
        return typed
    return person_reference(digits, current_app.config["PERSON_KEY"])


LINK_SECRET_VARIABLE = "ADJUSTMENTS_LINK_SECRET"


def _link_secret(settings: Settings) -> str:
    """Signs employer links; production must set ADJUSTMENTS_LINK_SECRET (32+ characters)."""
    secret = os.environ.get(LINK_SECRET_VARIABLE) or ""
    if settings.env == "production" and (len(secret) < 32 or secret == DEV_JWT_SECRET):
        raise ConfigError("ADJUSTMENTS_LINK_SECRET must be set to 32 or more characters in production")
    return secret or settings.jwt.secret + ":employer-links"
