"""No account needed: residents refer themselves, and follow their referral through a private link."""

from __future__ import annotations

import functools
import uuid

from flask import request
from flask.views import MethodView

from worklink.auth import Principal
from worklink.problems import Problem
from worklink.sites import directory_service_page
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_referrals import access, services
from worklink_referrals.api import now, settings
from worklink_referrals.domain import OPEN, Actor
from worklink_referrals.models import Referral
from worklink_referrals.schemas import (NewLinkAnswerSchema, NewLinkSchema, PendingSchema, PersonCancelSchema,
                                        PersonEmailsSchema, PersonStatusSchema, SelfReferralSchema, VerifySchema)

blp = Blueprint("self_service", __name__, description="Self-referral and the person's own status link.")

PLAIN_STATUS = {
    "submitted": "We have your referral and will pass it to an employment adviser.",
    "triage": "An employment adviser service is looking at your referral.",
    "accepted": "An employment adviser service has accepted your referral and will contact you.",
    "in_progress": "You are working with an employment adviser.",
    "on_hold": "Your support is paused for now.",
    "completed": "Your support has finished.",
    "rejected": "The service could not take your referral. Your referrer will be told why.",
    "cancelled": "This referral was cancelled.",
    "failed": "The adviser could not reach you. You can refer yourself again at any time.",
    "entered_in_error": "This referral was made by mistake and has been withdrawn.",
}
# A held referral has no service yet: the person reads what their first email said (notifications'
# referral_being_matched), not that it is on its way to an adviser.
HELD_STATUS = ("We have your referral. It is with the WorkLink alliance, who are matching it to a local employment "
               "support service.")
# Closed as disengaged (domain.FAIL_REASONS): the adviser did reach the person, who then stopped taking part.
DISENGAGED_STATUS = "Your support has ended because you stopped taking part. You can refer yourself again at any time."
# A self-referral has no referrer to be told why: the person is pointed to what they can do next instead.
SELF_REJECTED_STATUS = ("The service could not take your referral. You can look for other local support, or ask your "
                        "GP or Jobcentre work coach about it.")


def person_principal(referral: Referral) -> Principal:
    return Principal(subject=f"person-link:{referral.id}", role="resident")


def audit_pending(session, action: str, pending_id: uuid.UUID, *, by: uuid.UUID | None = None,
                  purpose: str | None = None) -> None:
    """A waiting self-referral holds the person's details before any referral exists: its creation and change
    are audited on it (resource pending_self_referral, the person named by its id, as a referral names them by
    the referral's), by the resident who holds it (`by`: the one they came from, for a changed address)."""
    service_context().audit.record(session, action=action, resource_type=services.PENDING_RECORD,
                                   resource_id=str(pending_id), person_id=str(pending_id), purpose=purpose,
                                   principal=services.pending_principal(by or pending_id))


# One answer for a link that matches nothing and one whose time is over (404 both: a 410 would tell whoever holds a
# guessed or leaked link that a referral was there), saying how to get a new one.
LINK_NOT_WORKING = ("This link does not work. It may have been copied wrongly, replaced by a newer link, or expired: "
                    "a link stops working some time after the referral ends. Ask for a new link to be emailed to "
                    "you: POST /status-links with your email address.")


class StatusLinkNotWorking(Problem):
    def __init__(self, expired_referral_id: uuid.UUID | None = None):
        super().__init__(404, LINK_NOT_WORKING)
        self.expired_referral_id = expired_referral_id  # audited as refused (audits_refused_links), never told


def referral_by_link(session, token: str) -> Referral:
    """The referral the person's private link opens, while it works (services.status_link_expires_at)."""
    referral = session.query(Referral).filter_by(status_link_hash=services.hash_secret(token)).one_or_none()
    if referral is None:
        raise StatusLinkNotWorking()
    if not services.status_link_works(referral, settings(), now()):
        raise StatusLinkNotWorking(referral.id)
    return referral


def audits_refused_links(view):
    """An expired link's use is an attempt on the person's record, audited as refused as a view is audited as a
    read - in a transaction of its own, as the view's was rolled back by the refusal."""
    @functools.wraps(view)
    def refusing(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except StatusLinkNotWorking as refused:
            if refused.expired_referral_id:
                ctx, rid = service_context(), str(refused.expired_referral_id)
                with ctx.database.transaction() as session:
                    ctx.audit.record(session, action="denied", resource_type="referral", resource_id=rid,
                                     person_id=rid, purpose=EXPIRED_LINK,
                                     principal=Principal(subject=f"person-link:{rid}", role="resident"))
            raise
    return refusing


EXPIRED_LINK = "status link expired"


def person_status(referral: Referral) -> dict:
    return {"reference": referral.reference, "status": referral.status, "status_text": _plain_status(referral),
            "submitted_at": services.as_utc(referral.submitted_at), "closed_at": services.as_utc(referral.closed_at),
            "consent_withdrawn": referral.consent_withdrawn_at is not None,
            "updates_by_email": services.tells_person(referral),
            "service_page": directory_service_page(settings().directory_url, referral.service_id),
            # the service that could not take it suggested another: the person can go there themselves
            "suggested_service_page": directory_service_page(settings().directory_url, referral.redirect_service_id)
            if referral.status == "rejected" else None}


def _plain_status(referral: Referral) -> str:
    if referral.status == "submitted" and referral.routing == "held":
        return HELD_STATUS
    if referral.status == "rejected" and referral.source == "self":
        return SELF_REJECTED_STATUS
    if referral.status == "failed" and referral.status_reason == "disengaged":
        return DISENGAGED_STATUS  # "The adviser could not reach you" is the failed contact's
    return PLAIN_STATUS[referral.status]


@blp.route("/self-referrals")
class SelfReferrals(MethodView):
    @blp.arguments(SelfReferralSchema)
    @blp.response(202, PendingSchema)
    def post(self, intake):
        """Refer yourself (no account). We send a code to your email; the referral starts once you enter it.

        Limited per contact address and per client IP (sliding window; 429 with Retry-After)."""
        ctx, moment = service_context(), now()
        with ctx.database.transaction() as session, access.domain_problems():
            services.limit_self_referrals(session, settings(), intake, request.remote_addr, moment)
            pending, code = services.start_self_referral(session, ctx.outbox, settings(), intake, moment)
            audit_pending(session, "create", pending.id)
        body = {"id": pending.id, "expires_at": pending.expires_at,
                "sent_to": "email" if intake["person"].get("email") else "phone"}
        if settings().expose_codes:  # production hands the code to the person's email or phone instead
            body["code"] = code
        return body


# The waiting self-referral's id is half of what verifies it (with the code), shows where the code went and
# lets anyone spend its attempts: named as a secret URL part (masked in the logs, no-store, no Referer).
@blp.route("/self-referrals/<uuid:pending_token>/verification")
class Verification(MethodView):
    @blp.arguments(VerifySchema)
    @blp.response(201, PersonStatusSchema)
    def post(self, data, pending_token):
        """Confirm the code: the referral is submitted and you get your private status link."""
        ctx, moment, pending_id = service_context(), now(), pending_token
        with access.domain_problems():
            with ctx.database.transaction() as session:  # one transaction: see check_self_referral_code
                wrong = services.check_self_referral_code(session, pending_id, data["code"], moment)
                if not wrong:
                    referral, link = services.complete_self_referral(session, ctx.outbox, settings(), pending_id,
                                                                     moment)
                    ctx.audit.record(session, action="create", resource_type="referral",
                                     resource_id=str(referral.id), person_id=str(referral.id),
                                     principal=person_principal(referral))
                    body = person_status(referral)
            if wrong:
                raise wrong  # after the commit: a wrong code's attempt is counted
        return {**body, "status_link": services.status_page(link)}  # the person's own: they verified the route


@blp.route("/status/<token>")
class PersonStatus(MethodView):
    @blp.response(200, PersonStatusSchema)
    @audits_refused_links
    def get(self, token):
        """Your referral's status, through the private link you were given."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            referral = referral_by_link(session, token)
            ctx.audit.record(session, action="read", resource_type="referral", resource_id=str(referral.id),
                             person_id=str(referral.id), principal=person_principal(referral))
            return person_status(referral)


@blp.route("/status/<token>/cancel")
class PersonCancel(MethodView):
    @blp.arguments(PersonCancelSchema)
    @blp.response(200, PersonStatusSchema)
    @audits_refused_links
    def post(self, data, token):
        """Stop your referral at any time; optionally withdraw your consent to share too."""
        ctx, moment = service_context(), now()
        with ctx.database.transaction() as session, access.domain_problems():
            referral = referral_by_link(session, token)
            if data["withdraw_consent"]:
                services.withdraw_consent(session, ctx.outbox, settings(), referral, moment)
            elif referral.status in {s.value for s in OPEN}:
                services.act(session, ctx.outbox, settings(), referral, "cancel",
                             Actor(f"person-link:{referral.id}", "resident", via_person_link=True),
                             {"reason": "person_withdrew"}, expected_version=referral.version, now=moment)
            else:
                raise Problem(409, "This referral has already ended.")
            ctx.audit.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                             person_id=str(referral.id), principal=person_principal(referral))
            return person_status(referral)


@blp.route("/status/<token>/emails")
class PersonEmails(MethodView):
    @blp.arguments(PersonEmailsSchema)
    @blp.response(200, PersonStatusSchema)
    @audits_refused_links
    def post(self, data, token):
        """Start or stop emails about your referral (while your consent stands). Stopping also stops those
        already on their way to you but not yet sent.

        Limited per referral (sliding window; 429 with Retry-After); sending the answer you already gave is not
        counted."""
        ctx, moment = service_context(), now()
        with ctx.database.transaction() as session, access.domain_problems():
            referral = referral_by_link(session, token)
            services.answer_status_emails(session, ctx.outbox, settings(), referral, data["updates_by_email"],
                                          moment)
            ctx.audit.record(session, action="update", resource_type="referral", resource_id=str(referral.id),
                             person_id=str(referral.id), principal=person_principal(referral))
            return person_status(referral)


NEW_LINK_SENT = ("If we hold a referral you can follow online at that email address, we have emailed a new link "
                 "for it to that address. Any link you had for it before no longer works.")


@blp.route("/status-links")
class NewStatusLinks(MethodView):
    @blp.arguments(NewLinkSchema)
    @blp.response(202, NewLinkAnswerSchema)
    def post(self, data):
        """Get a new private status link, emailed to the address we hold for your referral (never shown here):
        the same answer, and the same work done, whether or not the address matches one - the link is renewed and
        emailed within seconds, after the answer. Your old link stops working then. A repeat within 15 minutes of a
        link emailed (REFERRALS_STATUS_LINK_REPEAT_MINUTES), or while one waits, sends no other: that one works.

        Limited per email address and per client IP as self-referral starts are (sliding window; 429 with
        Retry-After), whether or not the address matched."""
        request_new_links(data["email"])
        return {"detail": NEW_LINK_SENT}


def request_new_links(email: str) -> None:
    """Leave a request for new links at this address (services.request_status_links): the same rows written, and no
    referral read, whether or not it matches; the new-links job renews and emails them, each audited as an update
    of the referral by the person - whoever asked, only that mailbox receives the link."""
    ctx, moment = service_context(), now()
    with ctx.database.transaction() as session, access.domain_problems():
        services.limit_status_link_requests(session, settings(), email, request.remote_addr, moment)
        services.request_status_links(session, settings(), email, moment)
