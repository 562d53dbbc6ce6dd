"""alliance_admin: routing rules (who hears about what), deliveries and dead letters with re-send."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView
from sqlalchemy.orm import selectinload

from worklink.audit import person_record
from worklink.auth import authenticate, requires
from worklink.web import Problem, service_context
from worklink.web.blueprint import Blueprint
from worklink_notifications import admin
from worklink_notifications.models import Delivery, RoutingRule
from worklink_notifications.schemas import (DeliveryDetail, DeliveryPage, DeliveryQuery, RoutingRuleIn,
                                            RoutingRuleOut, RoutingRulePatch, RoutingRuleQuery)

blp = Blueprint("admin", __name__, description="Routing rules and delivery status (alliance_admin).")


def shown(delivery: Delivery, with_attempts: bool = False) -> dict:
    """admin.shown, saying what the app's retention schedule removed ("Removed after 30 days")."""
    return admin.shown(delivery, with_attempts, current_app.config["NOTIFICATIONS_RETENTION"].removed_note())


@blp.route("/routing-rules")
class RoutingRules(MethodView):
    @requires("alliance_admin")
    @blp.arguments(RoutingRuleQuery, location="query")
    @blp.response(200, RoutingRuleOut(many=True))
    def get(self, query):
        """Every routing rule: event type, audience, channels, message."""
        with service_context().database.sessions() as session:
            return admin.rules(session, query.get("event_type"))

    @requires("alliance_admin")
    @blp.arguments(RoutingRuleIn)
    @blp.response(201, RoutingRuleOut)
    def post(self, body):
        """Add a rule (one per event type and audience)."""
        with service_context().database.transaction() as session:
            if admin.rule_for(session, body["event_type"], body["audience"]):
                raise Problem(409, f"There is already a rule for {body['event_type']} and {body['audience']}; "
                                   "change that one instead.")
            return admin.add_rule(session, body, authenticate().subject)


@blp.route("/routing-rules/<uuid:rule_id>")
class RoutingRuleView(MethodView):
    @requires("alliance_admin")
    @blp.arguments(RoutingRulePatch)
    @blp.response(200, RoutingRuleOut)
    def patch(self, body, rule_id: uuid.UUID):
        """Change a rule's channels or message, or switch it off."""
        with service_context().database.transaction() as session:
            rule = session.get(RoutingRule, rule_id)
            if rule is None:
                raise Problem(404, f"No routing rule {rule_id}.")
            return admin.change_rule(rule, body, authenticate().subject)


@blp.route("/deliveries")
class Deliveries(MethodView):
    @requires("alliance_admin")
    @blp.arguments(DeliveryQuery, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, query):
        """Deliveries by status (e.g. status=dead for failed ones), channel or event."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            rows, total = admin.deliveries(session, query)
            admin.audit_people(ctx.audit, session, rows, "list")
            return {"items": [shown(row) for row in rows], "total": total}


@blp.route("/deliveries/<uuid:delivery_id>")
@person_record(admin.RECORD_TYPE, "delivery_id")
class DeliveryView(MethodView):
    @requires("alliance_admin")
    @blp.response(200, DeliveryDetail)
    def get(self, delivery_id: uuid.UUID):
        """One delivery with every attempt."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            delivery = session.scalars(sa.select(Delivery).options(selectinload(Delivery.attempt_log))
                                       .where(Delivery.id == delivery_id)).first()
            if delivery is None:
                raise Problem(404, f"No delivery {delivery_id}.")
            admin.audit_people(ctx.audit, session, [delivery], "read")
            return shown(delivery, with_attempts=True)


@blp.route("/deliveries/<uuid:delivery_id>/resend")
@person_record(admin.RECORD_TYPE, "delivery_id")
class Resend(MethodView):
    @requires("alliance_admin")
    @blp.response(202, DeliveryDetail)
    def post(self, delivery_id: uuid.UUID):
        """Send a dead-lettered delivery again (the worker picks it up at once)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            delivery = session.get(Delivery, delivery_id, with_for_update=True)  # admin.resend: locked
            if delivery is None:
                raise Problem(404, f"No delivery {delivery_id}.")
            try:
                admin.resend(delivery)
            except admin.CannotResend as exc:
                refused, status_now = exc, delivery.status
            else:
                admin.audit_people(ctx.audit, session, [delivery], "update")
                return shown(delivery, with_attempts=True)
            # The refusal tells its state (erased, withdrawn, pending...): a look at a resident's record, audited
            # in this transaction, which a Problem raised inside it would have rolled back.
            admin.audit_people(ctx.audit, session, [delivery], "read")
        raise Problem(409, str(refused), status_now=status_now)
