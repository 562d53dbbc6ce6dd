"""Referrals: intake by GPs and partner organisations, the adviser queue and lifecycle actions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask.views import MethodView

from worklink.audit import person_record
from worklink.auth import current_principal, requires
from worklink.problems import Problem
from worklink.uktime import uk_today
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_referrals import access, services
from worklink_referrals.api import now, settings
from worklink_referrals.domain import ACTIONS
from worklink_referrals.models import Referral
from worklink_referrals.schemas import (ActionSchema, CheckQuerySchema, CheckSchema, IntakeSchema, NoteInSchema,
                                        QueueQuerySchema, QueueSchema, ReferralSchema, RouteSchema)

blp = Blueprint("referrals", __name__, description="Referrals to specialist employment advisers.")

REFERRERS = ("gp", "adviser", "org_admin")
READERS = ("gp", "adviser", "org_admin", "alliance_admin")
CLOCK_SKEW = timedelta(minutes=5)  # the referrer's clock may run a little ahead of ours
INTAKE = IntakeSchema()  # one instance: building a schema (deep-copying its fields) costs more than validating


def _organisation_id() -> str:
    org = current_principal().organisation
    try:
        return str(uuid.UUID(org or ""))
    except ValueError:
        raise Problem(403, "Referring needs an organisation id (UUID) in your access token.") from None


def _audit(session, action: str, referral: Referral) -> None:
    service_context().audit.record(session, action=action, resource_type="referral", resource_id=str(referral.id),
                                   person_id=str(referral.id))


@blp.route("/referrals")
class Referrals(MethodView):
    @requires(*REFERRERS)
    @blp.arguments(INTAKE)
    @blp.response(201, ReferralSchema)
    def post(self, intake):
        """Refer a person (GP or partner organisation), with their explicit consent.

        Routed to an adviser service from the directory read model, or held and flagged to the
        alliance when none can take it. An open referral for the same person and service is a 409
        unless `duplicate.reason` links the new one to it.

        The person's private status link is never in this response: it is emailed to the person, with
        the first status email (received), when their consent says `updates_by_email`
        (`status_link_sent_to: email`), and otherwise not sent (`none`).
        """
        _organisation_id()
        ctx, principal, moment = service_context(), current_principal(), now()
        if intake["consent"]["captured_at"] > moment + CLOCK_SKEW:
            raise Problem(422, "Consent cannot have been captured in the future.", errors=[
                {"location": "json", "pointer": "/consent/captured_at", "detail": "cannot be in the future"}])
        source = "gp" if principal.role == "gp" else "partner"
        intake = {**intake, "referrer": access.referrer_in_words(principal)}
        with access.domain_problems():
            try:
                with ctx.database.transaction() as session:
                    referral, _link = services.submit(
                        session, ctx.outbox, settings(), intake, access.actor(principal), source=source,
                        now=moment, audit=lambda rid: ctx.audit.rows(action="create", resource_type="referral",
                                                                     records=[(str(rid), str(rid))]))
                    # No organisation names: the intake reads nothing back (its three statements, README), and
                    # the referrer's own answer has no staff of another organisation in it yet.
                    body = access.present(session, referral, principal, settings(), moment, org_names={})
            except services.DuplicateFound as found:  # the 409 names a referral: that look is audited
                with ctx.database.transaction() as session:
                    session.execute(ctx.tables.audit_log.insert(), found.audit_entry)
                raise
        return {**body, "status_link_sent_to": "email" if referral.person_updates else "none"}

    @requires(*READERS)
    @blp.arguments(QueueQuerySchema, location="query")
    @blp.response(200, QueueSchema)
    def get(self, query):
        """The queue: advisers see their organisation's (new, breaching, mine, unassigned, waitlist, on_hold,
        review_due, checks_due); referrers what they sent. Each item says who holds it, a hold's review date and a
        sustainment check due (adviser side)."""
        ctx, principal, moment = service_context(), current_principal(), now()
        with ctx.database.transaction() as session:
            access.seen(session, principal, moment)
            found, total = access.queue(session, principal, settings(), moment, **query)
            access.audit_listed(session, ctx.audit, (r.id for r in found))
            names = services.organisation_names(session, {r.assigned_org_id for r in found})
            checks = access.due_checks(session, found, uk_today(moment))
            advisers = services.adviser_names(session, found)
            return {"items": [access.queue_item(r, settings(), moment, principal, names, checks, advisers)
                              for r in found],
                    "total": total,
                    "caseload": access.caseload(session, principal, settings())}


@blp.route("/referrals/<uuid:referral_id>")
@person_record("referral", "referral_id")
class OneReferral(MethodView):
    @requires(*READERS)
    @blp.response(200, ReferralSchema)
    def get(self, referral_id):
        """One referral, as this reader may see it (every read is audited)."""
        ctx, principal, moment = service_context(), current_principal(), now()
        with ctx.database.transaction() as session:
            referral = access.load(session, referral_id, principal)
            access.seen(session, principal, moment)
            _audit(session, "read", referral)
            return access.present(session, referral, principal, settings(), moment)


@blp.route("/referrals/<uuid:referral_id>/actions/<action>", parameters=[
    {"in": "path", "name": "action", "schema": {"type": "string", "enum": list(ACTIONS)},
     "description": "the lifecycle action; which ones this reader may take now is the referral's allowed_actions"}])
@person_record("referral", "referral_id")
class Action(MethodView):
    @requires("adviser", "org_admin", "gp", "alliance_admin")
    @blp.arguments(ActionSchema)
    @blp.response(200, ReferralSchema)
    def post(self, data, referral_id, action):
        """Take a lifecycle action (acknowledge, accept, assign, record_contact_attempt, make_first_contact,
        update_progress, put_on_hold, resume, reject, cancel, fail, complete, enter_in_error, record_outcome).

        Send the `version` you read: a stale one is a 409, never a silent overwrite. An action the
        referral's status does not allow is a 409 naming the allowed ones.
        """
        if action not in ACTIONS:
            raise Problem(404, f"No action {action!r}; the actions are: {', '.join(ACTIONS)}.")
        ctx, principal, moment = service_context(), current_principal(), now()
        version = data.pop("version")
        with ctx.database.transaction() as session, access.domain_problems():
            referral = access.load(session, referral_id, principal, lock=True)
            services.act(session, ctx.outbox, settings(), referral, action, access.actor(principal), data,
                         expected_version=version, now=moment)
            _audit(session, "update", referral)
            body = access.present(session, referral, principal, settings(), moment)
            if action in ("accept", "assign") and (
                    warning := access.allocation_caseload_warning(session, referral, principal, settings())):
                body["caseload_warning"] = warning
        return body


@blp.route("/referrals/<uuid:referral_id>/notes")
@person_record("referral", "referral_id")
class Notes(MethodView):
    @requires("adviser", "org_admin")
    @blp.arguments(NoteInSchema)
    @blp.response(201, ReferralSchema)
    def post(self, data, referral_id):
        """Add a case note (seen only by the assigned organisation and alliance admins)."""
        ctx, principal, moment = service_context(), current_principal(), now()
        with ctx.database.transaction() as session, access.domain_problems():
            referral = access.add_note(session, referral_id, principal, data["text"], moment)
            _audit(session, "update", referral)
            return access.present(session, referral, principal, settings(), moment)


@blp.route("/referrals/<uuid:referral_id>/consent-withdrawal")
@person_record("referral", "referral_id")
class ConsentWithdrawal(MethodView):
    @requires(*access.WITHDRAWAL_RECORDERS)
    @blp.response(200, ReferralSchema)
    def post(self, referral_id):
        """Record that the person withdrew consent: an open referral is cancelled and nothing more is shared."""
        ctx, principal, moment = service_context(), current_principal(), now()
        with ctx.database.transaction() as session, access.domain_problems():
            services.lock_person_first(session, Referral.id == referral_id)  # before the row: see the function
            referral = access.load(session, referral_id, principal, lock=True)
            if not access.records_withdrawal(principal, referral):  # the page's rule too
                raise Problem(403, "Only the referrer, the assigned organisation or an alliance admin records a "
                                   "withdrawal of consent.")
            services.withdraw_consent(session, ctx.outbox, settings(), referral, moment)
            _audit(session, "update", referral)
            return access.present(session, referral, principal, settings(), moment)


@blp.route("/referrals/<uuid:referral_id>/route")
@person_record("referral", "referral_id")
class Route(MethodView):
    @requires("alliance_admin")
    @blp.arguments(RouteSchema)
    @blp.response(200, ReferralSchema)
    def post(self, data, referral_id):
        """Route a held referral to an adviser service (alliance admins)."""
        ctx, principal, moment = service_context(), current_principal(), now()
        with ctx.database.transaction() as session, access.domain_problems():
            referral = access.load(session, referral_id, principal, lock=True)
            services.route_held(session, ctx.outbox, settings(), referral, data["service_id"],
                                access.actor(principal), moment)
            _audit(session, "share", referral)
            return access.present(session, referral, principal, settings(), moment)


@blp.route("/sustainment-checks")
class SustainmentChecks(MethodView):
    @requires("adviser", "org_admin", "alliance_admin")
    @blp.arguments(CheckQuerySchema, location="query")
    @blp.response(200, CheckSchema(many=True), headers={
        "X-Total-Count": {"description": "how many checks are due in all", "schema": {"type": "integer"}},
        "Link": {"description": 'the next page, when there is one (RFC 8288): `</sustainment-checks?limit=50&'
                                'offset=50>; rel="next"`', "schema": {"type": "string"}}})
    def get(self, query):
        """Sustainment checks (13 and 26 weeks after a job start) that are due and not yet recorded, soonest due
        first, a page at a time (`limit`, at most 200, and `offset`): the total is in `X-Total-Count`, the next
        page in `Link`. Audited as a list of those referrals, like the queue."""
        ctx, principal = service_context(), current_principal()
        if not principal.is_alliance_admin and not principal.organisation:  # fail closed: no org, no list
            raise Problem(403, "Sustainment checks are listed per organisation; your access token names none.")
        org = None if principal.is_alliance_admin else principal.organisation
        with ctx.database.transaction() as session:
            checks, total = services.due_sustainment_checks(session, org, uk_today(now()), **query)
            access.audit_listed(session, ctx.audit, (c.referral_id for c in checks))
        headers = {"X-Total-Count": str(total)}
        if query["offset"] + len(checks) < total:
            following = query["offset"] + len(checks)
            headers["Link"] = f'</sustainment-checks?limit={query["limit"]}&offset={following}>; rel="next"'
        return checks, 200, headers
