"""Addresses: a user's own channel settings, and an organisation's contacts."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView

from worklink.auth import authenticate, require_organisation, requires
from worklink.web import Problem, service_context
from worklink.web.blueprint import Blueprint
from worklink_notifications import channels
from worklink_notifications.models import OrganisationContact
from worklink_notifications.schemas import ChannelSettingsIn, ChannelSettingsOut, ContactIn, ContactOut

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
            return session.scalars(sa.select(OrganisationContact).where(
                OrganisationContact.organisation_id == organisation_id)
                .order_by(OrganisationContact.created_at)).all()

    @requires(*ORG_ADMINS)
    @blp.arguments(ContactIn)
    @blp.response(201, ContactOut)
    def post(self, body, organisation_id: str):
        """Add a contact address for the organisation's team or lead."""
        require_organisation(organisation_id)
        with service_context().database.transaction() as session:
            duplicate = session.scalar(sa.select(OrganisationContact.id).where(
                OrganisationContact.organisation_id == organisation_id,
                OrganisationContact.purpose == body["purpose"], OrganisationContact.email == body["email"]))
            if duplicate:
                raise Problem(409, f"{body['email']} is already a {body['purpose']} contact.", contact_id=str(duplicate))
            contact = OrganisationContact(organisation_id=organisation_id, **body)
            session.add(contact)
            session.flush()
            return contact


@blp.route("/organisations/<string(maxlength=64):organisation_id>/contacts/<uuid:contact_id>")
class Contact(MethodView):
    @requires(*ORG_ADMINS)
    @blp.response(204)
    def delete(self, organisation_id: str, contact_id: uuid.UUID):
        """Remove a contact."""
        require_organisation(organisation_id)
        with service_context().database.transaction() as session:
            contact = session.get(OrganisationContact, contact_id)
            if contact is None or contact.organisation_id != organisation_id:
                raise Problem(404, f"No contact {contact_id} for organisation {organisation_id}.")
            session.delete(contact)
