"""Clinicians' adjustment suggestions: write, issue, amend, withdraw, refer. Practice-scoped, audited."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask.views import MethodView

from worklink.audit import person_record
from worklink.auth import requires
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_adjustments import services
from worklink_adjustments.api.common import clinician, deps, today
from worklink_adjustments.services import RESOURCE
from worklink_adjustments.schemas import (ReferralRequestedSchema, ReferralRequestInSchema, SuggestionInSchema,
                                          SuggestionListQuery, SuggestionListSchema, SuggestionOutSchema,
                                          SuggestionSearchSchema, SuggestionStateSchema, SuggestionUpdateSchema,
                                          VersionSchema, WithdrawSchema)

blp = Blueprint("suggestions", __name__, url_prefix="/suggestions",
                description="Fit-note-shaped adjustment suggestions (clinicians of one practice)")


def transaction():
    return service_context().database.transaction()


# The day `nhs_number` in GET /suggestions was deprecated (RFC 9745: a structured-field date).
NHS_NUMBER_QUERY_DEPRECATED = "@" + str(int(datetime(2026, 11, 26, tzinfo=timezone.utc).timestamp()))
NHS_NUMBER_QUERY_SUCCESSOR = {"Deprecation": NHS_NUMBER_QUERY_DEPRECATED,
                              "Link": '</suggestions/search>; rel="successor-version"'}
# One instance for every request: given the class, webargs builds a Schema per request (its fields deep-copied),
# which cost issuing more than reading the body. Loading keeps no state in the instance.
VERSION = VersionSchema()


@blp.route("")
class Suggestions(MethodView):
    @requires("gp")
    @blp.arguments(SuggestionListQuery, location="query")
    @blp.response(200, SuggestionListSchema)
    def get(self, args):
        """Your practice's suggestions, most recently changed first (each one listed is audited).

        `nhs_number` here is deprecated (answered with `Deprecation` and a `Link` to its successor): a
        query string reaches proxies' and servers' access logs. Use `POST /suggestions/search`."""
        with transaction() as session:
            listing = services.list_for_practice(session, deps(), clinician(), **args)
        return (listing, NHS_NUMBER_QUERY_SUCCESSOR) if "nhs_number" in args else listing

    @requires("gp")
    @blp.arguments(SuggestionInSchema)
    @blp.response(201, SuggestionOutSchema)
    def post(self, data):
        """Write a draft suggestion; every fit-note rule is checked now (422 lists each broken rule)."""
        with transaction() as session:
            return services.create(session, deps(), clinician(), data, today())


@blp.route("/search")
class SuggestionSearch(MethodView):
    @requires("gp")
    @blp.arguments(SuggestionSearchSchema)
    @blp.response(200, SuggestionListSchema)
    def post(self, args):
        """Search your practice's suggestions by NHS number (in the body, so it stays out of access logs),
        with the filters and paging of `GET /suggestions`; each one found is audited."""
        with transaction() as session:
            return services.list_for_practice(session, deps(), clinician(), **args)


@blp.route("/<uuid:suggestion_id>")
@person_record(RESOURCE, "suggestion_id")
class SuggestionItem(MethodView):
    @requires("gp")
    @blp.response(200, SuggestionOutSchema)
    def get(self, suggestion_id: uuid.UUID):
        """One suggestion with the employer's response and referral status (404 for another practice's)."""
        with transaction() as session:
            return services.read(session, deps(), clinician(), suggestion_id)

    @requires("gp")
    @blp.arguments(SuggestionUpdateSchema)
    @blp.response(200, SuggestionOutSchema)
    def put(self, data, suggestion_id: uuid.UUID):
        """Replace a draft (send the `version` you read; 409 if it moved on or is no longer a draft)."""
        with transaction() as session:
            return services.update_draft(session, deps(), clinician(), suggestion_id, data, today())


@blp.route("/<uuid:suggestion_id>/issue")
@person_record(RESOURCE, "suggestion_id")
class Issue(MethodView):
    @requires("gp")
    @blp.arguments(VERSION)
    @blp.response(200, SuggestionStateSchema)
    def post(self, data, suggestion_id: uuid.UUID):
        """Issue a draft: publishes `adjustments.suggestion.issued`, opens the employer's link, and with
        recorded consent requests the employment-adviser referral."""
        with transaction() as session:
            return services.issue(session, deps(), clinician(), suggestion_id, data["version"], today())


@blp.route("/<uuid:suggestion_id>/amend")
@person_record(RESOURCE, "suggestion_id")
class Amend(MethodView):
    @requires("gp")
    @blp.arguments(SuggestionUpdateSchema)
    @blp.response(200, SuggestionOutSchema)
    def post(self, data, suggestion_id: uuid.UUID):
        """Amend an issued suggestion (a new version; publishes `adjustments.suggestion.amended`)."""
        with transaction() as session:
            return services.amend(session, deps(), clinician(), suggestion_id, data, today())


@blp.route("/<uuid:suggestion_id>/withdraw")
@person_record(RESOURCE, "suggestion_id")
class Withdraw(MethodView):
    @requires("gp")
    @blp.arguments(WithdrawSchema)
    @blp.response(200, SuggestionStateSchema)
    def post(self, data, suggestion_id: uuid.UUID):
        """Withdraw an issued suggestion (its employer link stops working)."""
        with transaction() as session:
            return services.withdraw(session, deps(), clinician(), suggestion_id, data["version"], data["reason"])


@blp.route("/<uuid:suggestion_id>/referral-requests")
@person_record(RESOURCE, "suggestion_id")
class ReferralRequests(MethodView):
    @requires("gp")
    @blp.arguments(ReferralRequestInSchema)
    @blp.response(201, ReferralRequestedSchema)
    def post(self, data, suggestion_id: uuid.UUID):
        """Ask for an employment-adviser referral; only with the patient's consent recorded (409 otherwise)."""
        with transaction() as session:
            result = services.request_referral(session, deps(), clinician(), suggestion_id, data["version"],
                                               data["outcomes_to_gp"])
            return {"request_id": str(result["request_id"]), "status": result["status"]}


@blp.route("/<uuid:suggestion_id>/referral-consent-withdrawal")
@person_record(RESOURCE, "suggestion_id")
class ReferralConsentWithdrawal(MethodView):
    @requires("gp")
    @blp.arguments(VERSION)
    @blp.response(200, SuggestionStateSchema)
    def post(self, data, suggestion_id: uuid.UUID):
        """Record that the patient withdrew their consent to the employment-adviser referral (also after the
        suggestion ended): publishes `adjustments.referral.consent_withdrawn` for each request sent, and the
        referrals service cancels the referral. 409 when no referral consent is recorded."""
        with transaction() as session:
            return services.withdraw_referral_consent(session, deps(), clinician(), suggestion_id, data["version"])
