"""A person's rights: a subject access export and erasure on request, across every suggestion this service
holds about them. For an alliance admin (every practice's suggestions) or a practice's organisation admin
(their own practice's: the practice is the controller of the advice its clinicians write). The person is
named in the body, never in the URL, so no access log holds the NHS number."""

from __future__ import annotations

from flask.views import MethodView

from worklink.auth import Principal, current_principal, requires
from worklink.db import utcnow
from worklink.events.catalogue import to_json_types
from worklink.problems import Problem
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink.web.people import nothing_held
from worklink_adjustments import rights
from worklink_adjustments.api.common import MAX_SUBJECT, deps
from worklink_adjustments.schemas import ErasureRequestSchema, ErasureSchema, PersonLookupSchema, SubjectAccessSchema

blp = Blueprint("people", __name__, description="A person's rights: subject access and erasure (alliance admins, "
                                                "and a practice's organisation admin for its own suggestions).")

ADMINS = ("alliance_admin", "org_admin")
NOTHING_HELD = "This service holds no suggestion about that person that you answer for."


@blp.route("/people/subject-access")
class SubjectAccess(MethodView):
    @requires(*ADMINS)
    @blp.arguments(PersonLookupSchema)
    @blp.response(200, SubjectAccessSchema)
    def post(self, lookup):
        """Everything held about a person across their suggestions, for a subject access request (UK GDPR
        Article 15), found by NHS number: each suggestion as stored, its employer links and answers, its
        referral requests, and who accessed it. Each suggestion's export is audited (`export`). 404 when
        nothing is held (erased suggestions hold no NHS number)."""
        with service_context().database.transaction() as session, nothing_held(NOTHING_HELD):
            _, body = rights.subject_access(session, deps(), lookup["nhs_number"], current_principal())
        return to_json_types(body)


@blp.route("/people/erasure")
class Erasure(MethodView):
    @requires(*ADMINS)
    @blp.arguments(ErasureRequestSchema)
    @blp.response(200, ErasureSchema)
    def post(self, request):
        """Erase a person's details on their request (UK GDPR Article 17) from every suggestion held about
        them: current advice is first withdrawn (reason `patient_request`: the employer link dies), an open
        referral request has its consent withdrawn (the referrals service cancels the referral), then each
        suggestion is erased as retention erases an ended one. Audited (`erase`, with the reason). The GP
        record, the referrals service and the employer keep their own copies. 404 when nothing is held."""
        principal = _recordable(current_principal())
        with service_context().database.transaction() as session, nothing_held(NOTHING_HELD):
            erased = rights.erase_on_request(session, deps(), request["nhs_number"], request["reason"], principal,
                                             utcnow())
        return {"reason": request["reason"], "erased": erased}


def _recordable(principal: Principal) -> Principal:
    """A consent withdrawal names who recorded it (at most 128 characters): refused before anything changes."""
    if len(principal.subject) > MAX_SUBJECT:
        raise Problem(403, f"Your user id is longer than {MAX_SUBJECT} characters, which WorkLink cannot record; "
                           "ask your administrator for a shorter one.")
    return principal
