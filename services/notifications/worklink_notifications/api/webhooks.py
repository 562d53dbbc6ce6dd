"""Webhook subscribers: partner systems that receive their organisation's events, signed. The rules and the audit
are subscribers.py's, shared with the page "Where your organisation is told"."""

from __future__ import annotations

import os
import uuid

from flask import current_app
from flask.views import MethodView

from worklink.auth import authenticate, require_organisation, requires
from worklink.web import Problem, service_context
from worklink.web.blueprint import Blueprint
from worklink_notifications import subscribers
from worklink_notifications.api.settings import changed_problem
from worklink_notifications.models import WebhookSubscriber
from worklink_notifications.schemas import (RotateIn, SubscriberIn, SubscriberOut, SubscriberPatch,
                                            SubscriberWithSecret)
from worklink_notifications.where_told_lock import ChangedMeanwhile

blp = Blueprint("webhooks", __name__, url_prefix="/webhook-subscribers",
                description="Signed webhooks (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).")

ADMINS = ("org_admin", "alliance_admin")


def _get(session, subscriber_id: uuid.UUID) -> WebhookSubscriber:
    try:
        return subscribers.visible(session, authenticate(), subscriber_id)
    except subscribers.NotYours as exc:
        raise Problem(404, str(exc)) from None


def _seal():
    """Secrets are kept sealed (webhook_secrets.py), so a copy of the database signs nothing."""
    return current_app.config["WEBHOOK_SECRET_SEAL"]


class Shown:
    """A subscriber as its answer shows it once, when its secret is made: the secret in clear, as its row never
    holds it."""

    def __init__(self, subscriber: WebhookSubscriber, secret: str):
        self._subscriber, self.secret = subscriber, secret

    def __getattr__(self, name: str):
        return getattr(self._subscriber, name)


def _url_problem(refused: subscribers.UrlRefused) -> Problem:
    return Problem(422, refused.title, errors=[{"location": "json", "pointer": "/url", "detail": refused.reason}])


def _taken_problem(taken: subscribers.UrlTaken) -> Problem:
    return Problem(409, "The organisation already has a webhook to this URL.", subscriber_id=str(taken.subscriber_id),
                   errors=[{"location": "json", "pointer": "/url", "detail": str(taken) + "."}])


def _check_url(url: str) -> None:
    try:
        subscribers.check_url(url, service_context().settings.env, os.environ)
    except subscribers.UrlRefused as refused:
        raise _url_problem(refused) from None


@blp.route("")
class Subscribers(MethodView):
    @requires(*ADMINS)
    @blp.response(200, SubscriberOut(many=True))
    def get(self):
        """Your organisation's subscribers (every one, for alliance_admin)."""
        principal = authenticate()
        if not principal.is_alliance_admin and not principal.organisation:
            # listed(None) is every organisation's: an org_admin whose token names none saw them all
            raise Problem(403, "Your sign-in names no organisation to act for.")
        with service_context().database.sessions() as session:
            return subscribers.listed(session, None if principal.is_alliance_admin else principal.organisation)

    @requires(*ADMINS)
    @blp.arguments(SubscriberIn)
    @blp.response(201, SubscriberWithSecret)
    def post(self, body):
        """Register a receiver; the response shows its signing secret, once."""
        principal, ctx = authenticate(), service_context()
        organisation = body.get("organisation_id") or principal.organisation
        if not organisation:
            raise Problem(422, "Name the organisation this subscriber receives events for.",
                          errors=[{"location": "json", "pointer": "/organisation_id", "detail": "Required."}])
        require_organisation(organisation)
        _check_url(body["url"])
        with ctx.database.transaction() as session:
            try:
                return Shown(*subscribers.create(session, ctx.audit, principal, _seal(), organisation, body["url"],
                                                 body["event_types"]))
            except subscribers.UrlTaken as taken:
                raise _taken_problem(taken) from None


@blp.route("/<uuid:subscriber_id>")
class Subscriber(MethodView):
    @requires(*ADMINS)
    @blp.response(200, SubscriberOut)
    def get(self, subscriber_id: uuid.UUID):
        with service_context().database.sessions() as session:
            return _get(session, subscriber_id)

    @requires(*ADMINS)
    @blp.arguments(SubscriberPatch)
    @blp.response(200, SubscriberOut)
    def patch(self, body, subscriber_id: uuid.UUID):
        """Change the URL or event types, or switch the subscriber off; send the `version` you read (409 if
        someone else changed it or rotated its secret since)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            try:
                return subscribers.change(session, ctx.audit, authenticate(), _get(session, subscriber_id), body,
                                          ctx.settings.env, os.environ)
            except subscribers.UrlRefused as refused:
                raise _url_problem(refused) from None
            except subscribers.UrlTaken as taken:
                raise _taken_problem(taken) from None
            except ChangedMeanwhile as exc:
                raise changed_problem("webhook subscriber", exc) from None

    @requires(*ADMINS)
    @blp.response(204)
    def delete(self, subscriber_id: uuid.UUID):
        """Remove a subscriber for good; its queued webhooks are not sent (switch it off to pause instead)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            subscribers.remove(session, ctx.audit, authenticate(), _get(session, subscriber_id))


@blp.route("/<uuid:subscriber_id>/rotate-secret")
class RotateSecret(MethodView):
    @requires(*ADMINS)
    @blp.arguments(RotateIn)
    @blp.response(200, SubscriberWithSecret)
    def post(self, body, subscriber_id: uuid.UUID):
        """New secret now; the old one also signs for `grace_hours` so the receiver can switch. While the last
        rotation's old secret still signs, another rotation is refused (409, saying when it can be made) unless
        `drop_previous` (after a leak) or `keep_previous` (the newest secret was not copied: it is replaced and the
        old one signs on); one made from an older `version` is refused too (409)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            subscriber = _get(session, subscriber_id)
            try:
                secret = subscribers.rotate(session, ctx.audit, authenticate(), _seal(), subscriber,
                                            body["grace_hours"], body["drop_previous"], body.get("version"),
                                            body["keep_previous"])
            except subscribers.StillSigning as exc:
                raise Problem(409, str(exc), previous_secret_expires_at=exc.expires.isoformat(), errors=[
                    {"location": "json", "pointer": "/drop_previous",
                     "detail": "The last rotation's old secret signs until "
                               f"{exc.expires.isoformat(timespec='seconds')}: rotate again after that, or send "
                               "true to stop it now (after a leak), or keep_previous to replace the newest secret "
                               "if it was not copied."}]) from None
            except ChangedMeanwhile as exc:
                raise changed_problem("webhook subscriber", exc) from None
            return Shown(subscriber, secret)
