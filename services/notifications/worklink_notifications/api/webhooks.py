"""Webhook subscribers: partner systems that receive their organisation's events, signed."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView

from worklink.auth import authenticate, require_organisation, requires
from worklink.db import utcnow
from worklink.web import Problem, service_context
from worklink.web.blueprint import Blueprint
from worklink_notifications import signing, webhook_targets
from worklink_notifications.delivery import as_utc
from worklink_notifications.models import WebhookSubscriber
from worklink_notifications.schemas import (RotateIn, SubscriberIn, SubscriberOut, SubscriberPatch,
                                            SubscriberWithSecret)

blp = Blueprint("webhooks", __name__, url_prefix="/webhook-subscribers",
                description="Signed webhooks (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).")

ADMINS = ("org_admin", "alliance_admin")


def _get(session, subscriber_id: uuid.UUID) -> WebhookSubscriber:
    subscriber = session.get(WebhookSubscriber, subscriber_id)
    # 404 rather than 403: another organisation's partner systems are not yours to know about.
    if subscriber is None or not authenticate().acts_for(subscriber.organisation_id):
        raise Problem(404, f"No webhook subscriber {subscriber_id}.")
    return subscriber


def _sealed(secret: str) -> str:
    """As the row keeps it: sealed (webhook_secrets.py), so a copy of the database signs nothing."""
    return current_app.config["WEBHOOK_SECRET_SEAL"].seal(secret)


class Shown:
    """A subscriber as its answer shows it once, when its secret is made: the secret in clear, as its row never
    holds it."""

    def __init__(self, subscriber: WebhookSubscriber, secret: str):
        self._subscriber, self.secret = subscriber, secret

    def __getattr__(self, name: str):
        return getattr(self._subscriber, name)


def _check_url(url: str) -> None:
    """In production a partner system is reached over HTTPS only (signatures prove origin, not privacy),
    and never at a loopback, private or link-local address (webhook_targets: no SSRF)."""
    env = service_context().settings.env
    if env == "production" and not url.lower().startswith("https://"):
        raise Problem(422, "Webhook URLs must use https.",
                      errors=[{"location": "json", "pointer": "/url", "detail": "Use an https:// URL."}])
    reason = None if webhook_targets.private_targets_allowed(env, os.environ) else webhook_targets.refusal(url)
    if reason:
        raise Problem(422, "Webhooks go to partner systems on the public internet.",
                      errors=[{"location": "json", "pointer": "/url", "detail": reason}])


@blp.route("")
class Subscribers(MethodView):
    @requires(*ADMINS)
    @blp.response(200, SubscriberOut(many=True))
    def get(self):
        """Your organisation's subscribers (every one, for alliance_admin)."""
        principal = authenticate()
        query = sa.select(WebhookSubscriber).order_by(WebhookSubscriber.created_at)
        if not principal.is_alliance_admin:
            query = query.where(WebhookSubscriber.organisation_id == principal.organisation)
        with service_context().database.sessions() as session:
            return session.scalars(query).all()

    @requires(*ADMINS)
    @blp.arguments(SubscriberIn)
    @blp.response(201, SubscriberWithSecret)
    def post(self, body):
        """Register a receiver; the response shows its signing secret, once."""
        principal = authenticate()
        organisation = body.get("organisation_id") or principal.organisation
        if not organisation:
            raise Problem(422, "Name the organisation this subscriber receives events for.",
                          errors=[{"location": "json", "pointer": "/organisation_id", "detail": "Required."}])
        require_organisation(organisation)
        _check_url(body["url"])
        secret = signing.new_secret()
        subscriber = WebhookSubscriber(organisation_id=organisation, url=body["url"],
                                       event_types=",".join(body["event_types"]), secret=_sealed(secret))
        with service_context().database.transaction() as session:
            session.add(subscriber)
            session.flush()
            return Shown(subscriber, secret)


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
        """Change the URL or event types, or switch the subscriber off."""
        with service_context().database.transaction() as session:
            subscriber = _get(session, subscriber_id)
            if "event_types" in body:
                body["event_types"] = ",".join(body["event_types"])
            if "url" in body:
                _check_url(body["url"])
            for name, value in body.items():
                setattr(subscriber, name, value)
            return subscriber


@blp.route("/<uuid:subscriber_id>/rotate-secret")
class RotateSecret(MethodView):
    @requires(*ADMINS)
    @blp.arguments(RotateIn)
    @blp.response(200, SubscriberWithSecret)
    def post(self, body, subscriber_id: uuid.UUID):
        """New secret now; the old one also signs for `grace_hours` so the receiver can switch."""
        with service_context().database.transaction() as session:
            subscriber = _get(session, subscriber_id)
            expires = subscriber.previous_secret_expires_at
            if expires and as_utc(expires) > utcnow() and not body["drop_previous"]:
                # One old secret signs beside the current one: another rotation now would drop it
                # before the receiver may have switched, and its webhooks would fail verification.
                raise Problem(409, "The last rotation's old secret still signs; the receiver may not have "
                                   "switched yet. Rotate again after it expires, or set drop_previous after a leak.",
                              previous_secret_expires_at=as_utc(expires).isoformat())
            secret = signing.new_secret()
            subscriber.previous_secret = subscriber.secret  # sealed as it was
            subscriber.previous_secret_expires_at = utcnow() + timedelta(hours=body["grace_hours"])
            subscriber.secret = _sealed(secret)
            return Shown(subscriber, secret)
