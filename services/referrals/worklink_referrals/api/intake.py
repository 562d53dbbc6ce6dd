"""An adviser organisation pauses and resumes new referrals to its services (capacity)."""

from __future__ import annotations

import uuid

from flask.views import MethodView

from worklink.auth import current_principal, requires
from worklink.problems import Problem
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_referrals import services
from worklink_referrals.api import now, settings
from worklink_referrals.schemas import ServiceIntakeChangeSchema, ServiceIntakeSchema

blp = Blueprint("intake", __name__, description="Whether each adviser service takes new referrals now.")


def _own_organisation() -> str | None:
    """The caller's organisation (None for alliance admins: every organisation's)."""
    principal = current_principal()
    if principal.is_alliance_admin:
        return None
    if not principal.organisation:
        raise Problem(403, "Your sign-in names no organisation, so there are no services of yours.")
    return principal.organisation


@blp.route("/adviser-services")
class AdviserServices(MethodView):
    @requires("adviser", "org_admin", "alliance_admin")
    @blp.response(200, ServiceIntakeSchema(many=True))
    def get(self):
        """Your organisation's adviser services (from the directory) and whether each takes new referrals."""
        with service_context().database.transaction() as session:
            return services.adviser_services(session, _own_organisation())


@blp.route("/adviser-services/<uuid:service_id>/intake")
class ServiceIntake(MethodView):
    @requires("org_admin", "alliance_admin")
    @blp.arguments(ServiceIntakeChangeSchema)
    @blp.response(200, ServiceIntakeSchema)
    def put(self, change, service_id: uuid.UUID):
        """Pause (false) or resume (true) new referrals to one of your organisation's services.

        Paused, routing passes the service by: a referral naming it, or that no other service can take,
        is held for the alliance (never dropped), and the next capacity summary tells the directory.
        Referrals it already has stay with it. Resumed, held referrals it can take are routed to it.
        """
        with service_context().database.transaction() as session:
            service = services.set_intake(session, service_context().outbox, settings(), service_id,
                                          _own_organisation(), change["accepting_referrals"], now())
            if service is None:
                raise Problem(404, f"No adviser service {service_id} of your organisation.")
            return service
