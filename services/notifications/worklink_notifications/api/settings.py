"""Addresses: a user's own channel settings, and an organisation's contacts."""

from __future__ import annotations

import uuid

from flask import current_app
from flask.views import MethodView

from worklink.auth import authenticate, require_organisation, requires
from worklink.web import Problem, service_context
from worklink.web.blueprint import Blueprint
from worklink_notifications import channels, contacts
from worklink_notifications.schemas import ChannelSettingsIn, ChannelSettingsOut, ContactChange, ContactIn, ContactOut
from worklink_notifications.where_told_lock import ChangedMeanwhile

blp = Blueprint("settings", __name__, description="Where and how often people and organisations are told.")

ORG_ADMINS = ("org_admin", "alliance_admin")


@blp.route("/me/channels")
class MyChannels(MethodView):
    @requires()
    @blp.response(200, ChannelSettingsOut)
    def get(self):
        """Your channel settings (defaults until you save some: inbox on, email off)."""
        principal = authenticate()
        with service_context().database.sessions() as session:
            return channels.current(session, principal)

    @requires()
    @blp.arguments(ChannelSettingsIn)
    @blp.response(200, ChannelSettingsOut)
    def put(self, body):
        """Choose your channels: inbox, email now, or email as one daily digest (audited, as the settings page)."""
        ctx = service_context()
        with ctx.database.transaction() as session:
            try:
                return channels.save(session, ctx.audit, authenticate(), body,
                                     current_app.config["CLINICIAN_REFERENCE_KEY"])
            except channels.EmailRequired as exc:
                raise Problem(422, str(exc), errors=[{"location": "json", "pointer": "/email",
                                                      "detail": "Required when email_enabled is true."}]) from None


# An organisation id is at most 64 characters (as stored): a longer one is no organisation's, a 404 from routing
# (PostgreSQL refused it in a write, a 500, where SQLite stored it).
@blp.route("/organisations/<string(maxlength=64):organisation_id>/contacts")
class Contacts(MethodView):
    @requires(*ORG_ADMINS)
    @blp.response(200, ContactOut(many=True))
    def get(self, organisation_id: str):
        """An organisation's email contacts (its team and its lead)."""
        require_organisation(organisation_id)
        with service_context().database.sessions() as session:
            return contacts.listed(session, organisation_id)

    @requires(*ORG_ADMINS)
    @blp.arguments(ContactIn)
    @blp.response(201, ContactOut)
    def post(self, body, organisation_id: str):
        """Add a contact address for the organisation's team or lead (audited, as the page)."""
        principal, ctx = require_organisation(organisation_id), service_context()
        with ctx.database.transaction() as session:
            try:
                return contacts.add(session, ctx.audit, principal, organisation_id, body)
            except contacts.ContactTaken as exc:
                raise Problem(409, str(exc), contact_id=str(exc.contact_id)) from None


@blp.route("/organisations/<string(maxlength=64):organisation_id>/contacts/<uuid:contact_id>")
class Contact(MethodView):
    @requires(*ORG_ADMINS)
    @blp.arguments(ContactChange)
    @blp.response(200, ContactOut)
    def put(self, body, organisation_id: str, contact_id: uuid.UUID):
        """Change a contact's address, purpose or frequency (audited, as the page); send the `version` you read
        (409 if someone else changed it since)."""
        principal, ctx = require_organisation(organisation_id), service_context()
        read_version = body.pop("version")
        with ctx.database.transaction() as session:
            try:
                return contacts.change(session, ctx.audit, principal, organisation_id, contact_id, body, read_version)
            except contacts.NoSuchContact as exc:
                raise Problem(404, str(exc)) from None
            except ChangedMeanwhile as exc:
                raise changed_problem("contact", exc) from None
            except contacts.ContactTaken as exc:
                raise Problem(409, str(exc), contact_id=str(exc.contact_id)) from None

    @requires(*ORG_ADMINS)
    @blp.response(204)
    def delete(self, organisation_id: str, contact_id: uuid.UUID):
        """Remove a contact (audited, as the page)."""
        principal, ctx = require_organisation(organisation_id), service_context()
        with ctx.database.transaction() as session:
            try:
                contacts.remove(session, ctx.audit, principal, organisation_id, contact_id)
            except contacts.NoSuchContact as exc:
                raise Problem(404, str(exc)) from None


def changed_problem(what: str, changed: ChangedMeanwhile) -> Problem:
    """A change made from a version someone else's change has replaced: nothing changed (as referrals' `version`)."""
    return Problem(409, f"The {what} changed since you read it; nothing was changed. Read it again, re-apply your "
                        "change and send its current version.", title=f"The {what} changed since you read it",
                   current_version=changed.current_version,
                   errors=[{"location": "json", "pointer": "/version",
                            "detail": f"Not the current version ({changed.current_version})."}])
