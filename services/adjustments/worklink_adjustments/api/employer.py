"""The employer's reply, as JSON: the single-use link on the letter is the only credential.

`GET /employer-links/<token>` shows what was advised (no diagnosis unless disclosed);
`POST /employer-links/<token>/response` records the answer once. An unknown or altered token
is 404; a used, expired or superseded link (the advice was amended, withdrawn or ended) is 410.
"""

from __future__ import annotations

from flask.views import MethodView

from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_adjustments import services
from worklink_adjustments.api.common import deps
from worklink_adjustments.schemas import EmployerAnswerInSchema, EmployerAnswerSchema, EmployerViewSchema

blp = Blueprint("employer", __name__, url_prefix="/employer-links",
                description="The employer's answer through the single-use link on the letter (no account)")

LINK_ERRORS = {404: "The link is not valid (unknown, or not copied in full).",
               410: "The link was used, has expired, or the advice was amended, withdrawn or ended."}


@blp.route("/<token>")
class EmployerLink(MethodView):
    @blp.response(200, EmployerViewSchema)
    @blp.alt_response(404, description=LINK_ERRORS[404])
    @blp.alt_response(410, description=LINK_ERRORS[410])
    def get(self, token: str):
        """What the clinician advised, for the employer to answer (the read is audited)."""
        with service_context().database.transaction() as session:
            return services.employer_view(session, deps(), token)


@blp.route("/<token>/response")
class EmployerAnswer(MethodView):
    @blp.arguments(EmployerAnswerInSchema)
    @blp.response(201, EmployerAnswerSchema)
    @blp.alt_response(404, description=LINK_ERRORS[404])
    @blp.alt_response(410, description=LINK_ERRORS[410])
    def post(self, data, token: str):
        """Record which adjustments were agreed, partly agreed (`partially_agreed`) or not possible, and why.
        The link then stops working (410)."""
        with service_context().database.transaction() as session:
            response = services.record_employer_response(session, deps(), token, data)
            return {**{c: getattr(response, c) for c in (
                "id", "outcome", "items", "comments", "responder_name", "responder_role", "effective_from",
                "recorded_at", "suggestion_version")}, "current": True}
