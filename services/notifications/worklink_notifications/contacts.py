"""An organisation's e-mail contacts (its team, its lead): listed, added, changed and removed here for both the API
(/organisations/<id>/contacts) and the page "Where your organisation is told" (/where-told), so the two hold one set
of rules and one audit. The caller checks the organisation is the user's to act for. Free of Flask."""

from __future__ import annotations

import uuid
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink.audit import AuditTrail
from worklink.auth import Principal
from worklink_notifications.models import OrganisationContact
from worklink_notifications.where_told_lock import check_version, lock_organisation, moved

RESOURCE_TYPE = "organisation_contact"
PURPOSE = "where the organisation is told changed"  # the audit entry's purpose; never the address itself


class NoSuchContact(LookupError):
    """No such contact, or another organisation's: not yours to know about (a 404)."""

    def __init__(self, organisation_id: str, contact_id: uuid.UUID):
        super().__init__(f"No contact {contact_id} for organisation {organisation_id}.")


class ContactTaken(ValueError):
    """The organisation already has this address for this purpose (the table's unique key)."""

    def __init__(self, contact_id: uuid.UUID, email: str, purpose: str):
        super().__init__(f"{email} is already a {purpose} contact.")
        self.contact_id = contact_id


def listed(session: Session, organisation_id: str) -> list[OrganisationContact]:
    return list(session.scalars(sa.select(OrganisationContact).where(
        OrganisationContact.organisation_id == organisation_id).order_by(OrganisationContact.created_at)))


def found(session: Session, organisation_id: str, contact_id: uuid.UUID) -> OrganisationContact:
    contact = session.get(OrganisationContact, contact_id)
    if contact is None or contact.organisation_id != organisation_id:
        raise NoSuchContact(organisation_id, contact_id)
    return contact


def add(session: Session, audit: AuditTrail, principal: Principal, organisation_id: str,
        body: Mapping[str, Any]) -> OrganisationContact:
    """A new contact (ContactIn, loaded)."""
    lock_organisation(session, organisation_id)  # a form sent twice: the second sees the first's row
    _refuse_taken(session, organisation_id, body["purpose"], body["email"])
    contact = OrganisationContact(organisation_id=organisation_id, **body)
    session.add(contact)
    session.flush()
    _audit(session, audit, principal, "create", contact)
    return contact


def change(session: Session, audit: AuditTrail, principal: Principal, organisation_id: str, contact_id: uuid.UUID,
           body: Mapping[str, Any], read_version: int) -> OrganisationContact:
    """A contact's address, purpose or frequency changed (ContactIn, loaded: all three), from the contact as it was
    at `read_version`: raises ChangedMeanwhile if someone else changed it since."""
    contact = found(session, organisation_id, contact_id)
    check_version(session, contact, read_version)
    _refuse_taken(session, organisation_id, body["purpose"], body["email"], other_than=contact.id)
    for name, value in body.items():
        setattr(contact, name, value)
    moved(contact)
    session.flush()
    _audit(session, audit, principal, "update", contact)
    return contact


def remove(session: Session, audit: AuditTrail, principal: Principal, organisation_id: str,
           contact_id: uuid.UUID) -> None:
    contact = found(session, organisation_id, contact_id)
    session.delete(contact)
    _audit(session, audit, principal, "delete", contact)


def _refuse_taken(session: Session, organisation_id: str, purpose: str, email: str,
                  other_than: uuid.UUID | None = None) -> None:
    taken = session.scalar(sa.select(OrganisationContact.id).where(
        OrganisationContact.organisation_id == organisation_id, OrganisationContact.purpose == purpose,
        OrganisationContact.email == email, OrganisationContact.id != other_than if other_than else sa.true()))
    if taken:
        raise ContactTaken(taken, email, purpose)


def _audit(session: Session, audit: AuditTrail, principal: Principal, action: str,
           contact: OrganisationContact) -> None:
    audit.record(session, action=action, resource_type=RESOURCE_TYPE, resource_id=str(contact.id),
                 principal=principal, purpose=PURPOSE)
