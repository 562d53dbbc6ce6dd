"""A person's rights (alliance admins): a subject access export and erasure on request, across every
referral this service holds about them. The person is named in the body (an NHS number or a referral
id), never in the URL, so no access log holds it."""

from __future__ import annotations

from flask.views import MethodView

from worklink.auth import current_principal, requires
from worklink.events.catalogue import to_json_types
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink.web.people import nothing_held
from worklink_referrals import rights
from worklink_referrals.api import now, settings
from worklink_referrals.schemas import ErasureRequestSchema, ErasureSchema, PersonLookupSchema, SubjectAccessSchema

blp = Blueprint("people", __name__, description="A person's rights: subject access and erasure (alliance admins).")

NOTHING_HELD = "This service holds nothing about that person."


@blp.route("/people/subject-access")
class SubjectAccess(MethodView):
    @requires("alliance_admin")
    @blp.arguments(PersonLookupSchema)
    @blp.response(200, SubjectAccessSchema)
    def post(self, lookup):
        """Everything held about a person across their referrals, for a subject access request (UK GDPR
        Article 15): found by NHS number, or by one referral's id together with every referral linked to it
        by NHS number or by name, birth date and postcode. Each referral's export is audited (`export`).
        404 when nothing is held."""
        with service_context().database.transaction() as session, nothing_held(NOTHING_HELD):
            _, body = rights.subject_access(session, lookup)
        return to_json_types(body)


@blp.route("/people/erasure")
class Erasure(MethodView):
    @requires("alliance_admin")
    @blp.arguments(ErasureRequestSchema)
    @blp.response(200, ErasureSchema)
    def post(self, request):
        """Erase a person's details on their request (UK GDPR Article 17) from every referral held about
        them (found as for subject access): each open one is first cancelled with consent withdrawn (the
        adviser organisation is told, notifications stops messages to them), then each is erased as the
        retention job erases an ended referral. Audited (`erase`, with the reason). 404 when nothing is
        held; a repeat answers the referrals as already erased."""
        ctx = service_context()
        lookup = {"nhs_number": request.get("nhs_number"), "referral_id": request.get("referral_id")}
        with ctx.database.transaction() as session, nothing_held(NOTHING_HELD):
            erased = rights.erase_on_request(session, ctx.outbox, settings(), lookup, request["reason"],
                                             current_principal(), now())
        return {"reason": request["reason"], "erased": erased}
