"""Server-rendered pages (NHS.UK frontend; they work without JavaScript)."""

from __future__ import annotations

import hmac
import json
import os
import uuid
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, make_response, redirect, render_template, request, url_for
from marshmallow import ValidationError

from worklink import organisation_names as org_names
from worklink.audit import person_record
from worklink.auth import authenticate, require_organisation, requires
from worklink.db import utcnow
from worklink.keyring import Unopenable
from worklink.uktime import uk_moment, uk_time
from worklink.web import Problem, accepts_form, service_context
from worklink.web.numbers import whole_number
from worklink.web.pages import PagesBlueprint, cookie_secure
from worklink_notifications import admin, channels, contacts, inbox, links, subscribers, webhook_secrets
from worklink_notifications.api.admin import shown
from worklink_notifications.api.inbox import reference_keys
from worklink_notifications.api.settings import ORG_ADMINS
from worklink_notifications.delivery import DeliverySettings
from worklink_notifications.events import routed_types
from worklink_notifications.messages import rule_titles
from worklink_notifications.models import (FREQUENCIES, OrganisationContact, OrganisationName, RoutingRule,
                                          WebhookSubscriber)
from worklink_notifications.schemas import ChannelSettingsIn, ContactIn, RotateIn, SubscriberIn, SubscriberPatch
from worklink_notifications.where_told_lock import ChangedMeanwhile

pages = PagesBlueprint("notification_pages", __name__, template_folder="templates")

PAGE_SIZE = 50  # inbox items per page, newest first; failed deliveries per page on /admin too
SCOPES = {"user": "Your messages", "organisation": "Your organisation", "alliance": "The alliance"}


@pages.app_template_filter("uk_time")
def _uk_time(moment: datetime | None) -> str:
    """A stored moment (UTC) in UK time, named GMT or BST, as the inbox shows its times: a webhook failing since
    09:00 BST read 08:00 UTC beside messages in UK time."""
    return uk_moment(moment, "%-d %B %Y, %H:%M %Z")


@pages.app_template_global("rule_message")
def _rule_message(rule_code: str) -> str:
    """A routing rule's message as its readers see it (messages.rule_titles): "Referral accepted", not its code."""
    return " or ".join(rule_titles(rule_code))


@pages.app_template_global("audience_words")
def _audience_words(audience: str) -> str:
    """Who a routing rule tells, in words (AUDIENCE_WORDS): "the GP practice", not `practice`."""
    return AUDIENCE_WORDS.get(audience, audience)


def _nav() -> list[tuple[str, str]]:
    nav = [("Messages", url_for("notification_pages.messages")),
           ("Notification settings", url_for("notification_pages.settings_page"))]
    if authenticate().role in ORG_ADMINS:
        nav.append(("Where your organisation is told", url_for("notification_pages.where_told_start")))
    if authenticate().is_alliance_admin:
        nav.append(("Administration", url_for("notification_pages.administration")))
    return nav


@pages.get("/")
def home():
    return redirect(url_for("notification_pages.messages"))


@pages.get("/messages")
@requires()
def messages():
    principal = authenticate()
    _remember_organisation_name(principal)
    owners = inbox.owners_for(principal, reference_keys())
    scope = request.args.get("scope", "user")
    if scope not in {o.kind for o in owners}:
        scope = "user"
    owner = next(o for o in owners if o.kind == scope)
    page_number = _page_number(request.args.get("page"))
    with service_context().database.sessions() as session:
        counts = {o.kind: inbox.unread(session, o) for o in owners}
        items, total = inbox.items(session, owner, False, PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
        if not items and page_number > 1:  # past the last page (a bookmark; a newer notice replaced older ones)
            page_number = max(1, -(-total // PAGE_SIZE))  # "no messages here yet" under "(3)", and no way back
            items, total = inbox.items(session, owner, False, PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
    shown_at = utcnow()  # after the reads: "Mark all as read" marks what had arrived by then, not a newer one
    tabs = [(o.kind, SCOPES[o.kind], counts[o.kind]) for o in owners]
    carried = _carried_once(MARKED_COOKIE, MARKED_FOR)
    notice = _marked_notice(carried["marked"]) if carried and carried.get("scope") == scope else None
    site_urls = links.sites(os.environ, service_context().settings.env)
    for item in items:
        item["link"] = links.record_link(item, site_urls)
        item["created_at"] = uk_time(item["created_at"])  # stored in UTC: an hour out all summer
    response = make_response(render_template(
        "notifications/messages.html", items=items, total=total, scope=scope, tabs=tabs, unread_here=counts[scope],
        shown_at=shown_at.isoformat(), notice=notice, nav=_nav(), page_number=page_number,
        pages_total=max(1, -(-total // PAGE_SIZE))))
    return _forget_once(response, MARKED_COOKIE) if MARKED_COOKIE in request.cookies else response


def _remember_organisation_name(principal) -> None:
    """Keep the name the user's token gives their organisation (OrganisationName), so the alliance's pages name it
    instead of an id. Read first, as the inbox is read often: a write only when the name is new or changed."""
    org, name = principal.organisation, principal.organisation_name
    if not (org and name):
        return
    database = service_context().database
    with database.sessions() as session:
        if org_names.names_of(session, OrganisationName.__table__, [org]).get(org) == name:
            return
    with database.transaction() as session:
        org_names.remember(session, OrganisationName.__table__, org, name, utcnow())


def _marked_notice(marked) -> str | None:
    """After "Mark all as read": the count its answer carried here (never one from the address)."""
    if not isinstance(marked, int) or marked < 0:
        return None
    if not marked:
        return "There were no unread messages to mark as read."
    return f"{marked} message{'' if marked == 1 else 's'} marked as read."


# What "Mark all as read" did, for the next inbox page alone (_carry_once): a count in the address (?marked=12)
# was anyone's to craft in a link.
MARKED_COOKIE = "worklink_marked_read"
MARKED_FOR = "marked-read"


def _page_number(raw: str | None) -> int:
    """?page=N from a link; anything else (a hand-edited URL) shows the first page."""
    return whole_number(raw, 100_000) or 1


@pages.post("/messages/<uuid:item_id>/read")
@requires()
@accepts_form
def mark_read(item_id: uuid.UUID):
    with service_context().database.transaction() as session:
        if inbox.mark_read(session, authenticate(), item_id, reference_keys()) is None:
            raise Problem(404, "That message is not in any inbox you can read.")
    # Back at the message just read, not the top of the page: a keyboard user's next Tab goes on down the list
    # instead of starting again at "Skip to main content" (and a screen magnifier stays where it was).
    return redirect(url_for("notification_pages.messages", scope=request.form.get("scope", "user"),
                            page=_page_number(request.form.get("page")), _anchor=f"message-{item_id}"))


@pages.post("/messages/read")
@requires()
@accepts_form
def mark_all_read():
    """Every unread message in one of the caller's inboxes (the API's POST /inbox/read): their own, their
    organisation's (read for the whole team) or, for alliance_admin, the alliance's."""
    scope = request.form.get("scope", "user")
    try:
        owner = inbox.owner_for(authenticate(), scope if scope in SCOPES else "user", reference_keys())
    except inbox.NotYours as exc:
        raise Problem(403, str(exc)) from None
    up_to = _moment(request.form.get("up_to"), "up_to")
    with service_context().database.transaction() as session:
        marked = inbox.mark_all_read(session, owner, up_to=up_to)
    return _carry_once(redirect(url_for("notification_pages.messages", scope=owner.kind), 303),
                       url_for("notification_pages.messages"), MARKED_COOKIE, MARKED_FOR,
                       scope=owner.kind, marked=marked)


def _moment(raw: str | None, field: str) -> datetime | None:
    """A form's hidden moment (ISO 8601 with its offset), or None when the form has none (an older page)."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Problem(400, "The form's time is not a date and time with its offset.",
                      errors=[{"location": "form", "pointer": f"/{field}", "detail": "Not an ISO 8601 date-time "
                               "with an offset."}])
    return moment


# The settings page's e-mail choice: off, or on with its frequency (ChannelSettingsIn's email_enabled, frequency).
EMAIL_OFF = "off"
SETTINGS_ERRORS = {  # a field's message in words; the rules are ChannelSettingsIn's and channels.save's
    "inbox": "Choose whether to keep messages addressed to you in your inbox",
    "email_choice": "Choose whether and how often to get emails",
    "email": "Enter an email address in the correct format, like name@example.com",
    "email_required": "Enter the email address to send your emails to, or choose no emails",
}


@pages.get("/settings")
@requires()
def settings_page():
    with service_context().database.sessions() as session:
        saved = channels.saved_choice(session, authenticate())
    values = {"inbox": "yes" if saved["inbox_enabled"] else "no", "email": saved["email"],
              "email_choice": saved["frequency"] if saved["email_enabled"] else EMAIL_OFF}
    return _settings_form(values, {}, saved=request.args.get("done") == "saved")


@pages.post("/settings")
@requires()
@accepts_form
def save_settings():
    form, ctx, principal = request.form, service_context(), authenticate()
    values = {name: form.get(name, "") for name in ("inbox", "email_choice", "email")}
    errors = {name: SETTINGS_ERRORS[name] for name, allowed in
              (("inbox", {"yes", "no"}), ("email_choice", {EMAIL_OFF, *FREQUENCIES})) if values[name] not in allowed}
    with ctx.database.transaction() as session:
        # No emails keeps how often they came (and the address), for when they are turned on again.
        frequency = values["email_choice"] if values["email_choice"] in FREQUENCIES \
            else channels.saved_choice(session, principal)["frequency"]
        try:  # the API's schema: the same rules for an address and a frequency
            choice = ChannelSettingsIn().load({"email": values["email"].strip() or None, "frequency": frequency,
                                               "inbox_enabled": values["inbox"] == "yes",
                                               "email_enabled": values["email_choice"] in FREQUENCIES})
        except ValidationError as exc:
            errors.update({name: SETTINGS_ERRORS[name] for name in exc.messages if name in SETTINGS_ERRORS})
        if not errors:
            try:
                channels.save(session, ctx.audit, principal, choice, current_app.config["CLINICIAN_REFERENCE_KEY"])
            except channels.EmailRequired:
                errors["email"] = SETTINGS_ERRORS["email_required"]
    if errors:
        return _settings_form(values, errors), 400
    return redirect(url_for("notification_pages.settings_page", done="saved"))  # PRG: a reload saves nothing again


def _settings_form(values: dict, errors: dict, saved: bool = False):
    principal = authenticate()
    digest_hour = DeliverySettings.from_env(os.environ).digest_hour
    return render_template("notifications/settings.html", values=values, errors=errors, saved=saved, nav=_nav(),
                           digest_time=channels.digest_time(digest_hour), organisation=principal.organisation,
                           administrator=principal.role in ("org_admin", "alliance_admin"))


@pages.get("/admin")
@requires("alliance_admin")
def administration():
    ctx = service_context()
    page_number = _page_number(request.args.get("page"))  # of failed deliveries: all of them reachable
    with ctx.database.transaction() as session:
        rules = admin.rules(session)
        dead, failed_total = _failed_page(session, page_number)
        if not dead and page_number > 1:  # past the last page (its last one re-sent): show the last page
            page_number = max(1, -(-failed_total // PAGE_SIZE))
            dead, failed_total = _failed_page(session, page_number)
        admin.audit_people(ctx.audit, session, dead, "list")  # a resident's delivery is part of their record
        failed = [{**shown(d), "cannot_resend": admin.why_not_resent(d)} for d in dead]
        subscribers = session.scalars(sa.select(WebhookSubscriber).order_by(WebhookSubscriber.created_at)).all()
        notice = _notice(session, request.args.get("done"), request.args.get("rule"))
    return render_template("notifications/admin.html", rules=rules, failed=failed, failed_total=failed_total,
                           subscribers=subscribers, nav=_nav(), notice=notice, page_number=page_number,
                           pages_total=max(1, -(-failed_total // PAGE_SIZE)))


def _failed_page(session, page_number: int):
    return admin.deliveries(session, {"status": "dead", "limit": PAGE_SIZE, "offset": (page_number - 1) * PAGE_SIZE})


def _notice(session, done: str | None, rule_id: str | None) -> str | None:
    """The confirmation after a change, built here from a code (and the rule it names, as it is now):
    only a code comes back in the address, never words, so a crafted link cannot put its own text on
    the administrators' page."""
    if done == "resent":
        return "Queued to send again."
    if done == "resent-before":
        return "That delivery was already queued to send again, so it was not queued a second time."
    if done == "rule" and rule_id:
        try:
            rule = session.get(RoutingRule, uuid.UUID(rule_id))
        except ValueError:
            return None
        if rule is not None:
            return f"{rule.event_type} → {_audience_words(rule.audience)} is now {'on' if rule.enabled else 'off'}."
    return None


# How a rule's channels and audience read on its "turn off" question (routing.CHANNELS, routing.AUDIENCES).
CHANNEL_WORDS = {"inbox": "in their WorkLink inbox", "email": "by email", "webhook": "by webhook"}
AUDIENCE_WORDS = {
    "referrer_org": "the organisation that made the referral", "assigned_org": "the adviser organisation's team",
    "assigned_org_lead": "the adviser organisation's lead", "service_owner": "the organisation that owns the listing",
    "alliance": "the WorkLink alliance", "practice": "the GP practice", "clinician": "the clinician named by the event",
}


@pages.get("/admin/rules/<uuid:rule_id>/turn-off")
@requires("alliance_admin")
def confirm_turn_off(rule_id: uuid.UUID):
    """"Are you sure?" before a rule stops telling anyone: turning one off by a slip silenced an audience."""
    with service_context().database.sessions() as session:
        rule = session.get(RoutingRule, rule_id)
        if rule is None:
            raise Problem(404, "No such routing rule.")
        if not rule.enabled:  # already off (another administrator, a second tab): nothing to ask
            return redirect(url_for("notification_pages.administration", done="rule", rule=str(rule_id)))
        channels = [CHANNEL_WORDS.get(channel, channel) for channel in rule.channel_list]
        return render_template("notifications/rule_turn_off.html", rule=rule, nav=_nav(),
                               audience=AUDIENCE_WORDS.get(rule.audience, rule.audience),
                               channels=", ".join(channels[:-1]) + " or " + channels[-1] if len(channels) > 1
                               else "".join(channels))


@pages.post("/admin/rules/<uuid:rule_id>")
@requires("alliance_admin")
@accepts_form
def toggle_rule(rule_id: uuid.UUID):
    enabled = request.form.get("enabled") == "true"
    if not enabled and request.form.get("confirmed") != "yes":  # turning off is asked first (confirm_turn_off)
        return redirect(url_for("notification_pages.confirm_turn_off", rule_id=rule_id), 303)
    with service_context().database.transaction() as session:
        rule = session.get(RoutingRule, rule_id)
        if rule is None:
            raise Problem(404, "No such routing rule.")
        admin.change_rule(rule, {"enabled": enabled}, authenticate().subject)
    return redirect(url_for("notification_pages.administration", done="rule", rule=str(rule_id)))


@pages.post("/admin/deliveries/<uuid:delivery_id>/resend")
@person_record(admin.RECORD_TYPE, "delivery_id")
@requires("alliance_admin")
@accepts_form
def resend(delivery_id: uuid.UUID):
    from worklink_notifications.models import Delivery

    ctx = service_context()
    with ctx.database.transaction() as session:
        delivery = session.get(Delivery, delivery_id, with_for_update=True)  # admin.resend: locked
        if delivery is None:
            raise Problem(404, "No such delivery.")
        done = "resent-before" if admin.already_resent(delivery) else "resent"  # pressed twice: it is queued
        refused = admin.why_not_resent(delivery) if done == "resent" else None
        if done == "resent" and not refused:
            admin.resend(delivery)
        # A refusal tells its state too: audited as a read (committed with this transaction, not rolled back).
        admin.audit_people(ctx.audit, session, [delivery], "update" if done == "resent" and not refused else "read")
    if refused:
        raise Problem(409, refused, title="This delivery cannot be re-sent")
    return redirect(url_for("notification_pages.administration", done=done,
                            page=_page_number(request.form.get("page"))))


# --- Where your organisation is told: its e-mail contacts and its webhooks --------------------------------------
# The API's roles and scoping (api/settings.py, api/webhooks.py): an organisation's administrator sees and changes
# their own organisation's, the alliance's any organisation's; a contact or webhook of another organisation is
# not found (404), as the API's. The rules and the audit are contacts.py's and subscribers.py's, as the API's.

TOLD_ROLES = ORG_ADMINS  # == api.webhooks.ADMINS
TOLD_NOTICES = {  # ?done= codes: only a code comes back in the address, never words (see _notice)
    "contact-added": "The contact was added.", "contact-changed": "The contact was changed.",
    "contact-removed": "The contact was removed.", "webhook-on": "The webhook was turned on.",
    "webhook-off": "The webhook was turned off. Nothing is sent to it until it is turned on again.",
    "webhook-removed": "The webhook was removed.", "webhook-changed": "The webhook was changed.",
}
CONTACT_ERRORS = {  # a field's message in words; the rules are ContactIn's and contacts.py's
    "email": "Enter an email address in the correct format, like team@example.org",
    "purpose": "Choose who this address is for",
    "frequency": "Choose how often this address gets emails",
}
WEBHOOK_ERRORS = {  # the rules are SubscriberIn's and subscribers.check_url's; their own words where they say why
    "url": "Enter the web address of your system's webhook receiver, like https://crm.example.org/webhooks",
    "event_types": "Choose events from the list",
}
# How a contact's purpose and frequency read, here and in the templates (_where_told.html)
CONTACT_WORDS = {"purpose": {"team": "The organisation's team", "lead": "The organisation's lead"},
                 "frequency": {"immediate": "An email for each message", "daily": "One email a day"}}
pages.add_app_template_global(CONTACT_WORDS, "CONTACT_WORDS")
CHANGED_MEANWHILE = ("Not saved: someone else changed this {what} after you opened the page. Saved now: "
                     "\u201c{saved}\u201d. Save again to replace it with what you entered here")
SECRET_COOKIE = "worklink_webhook_secret"  # a new secret, sealed, for the one page that shows it (_show_secret_once)
SECRET_FOR = "webhook-secret"


def _told_organisation(organisation_id: str) -> str:
    """The organisation, if the user acts for it (the API's require_organisation: 403 otherwise)."""
    require_organisation(organisation_id)
    return organisation_id


def _told_page(organisation_id: str, done: str | None = None, **anchor):
    return redirect(url_for("notification_pages.where_told", organisation_id=organisation_id, done=done,
                            **anchor), 303)


@pages.get("/where-told")
@requires(*TOLD_ROLES)
def where_told_start():
    """An organisation's administrator goes to their organisation's page; the alliance's chooses one."""
    principal = authenticate()
    if not principal.is_alliance_admin:
        if not principal.organisation:
            raise Problem(403, "Your sign-in names no organisation to act for.")
        return redirect(url_for("notification_pages.where_told", organisation_id=principal.organisation))
    chosen = request.args.get("organisation")
    errors = {}
    if chosen is not None:
        chosen = chosen.strip()
        if chosen and len(chosen) <= 64 and "/" not in chosen:
            return redirect(url_for("notification_pages.where_told", organisation_id=chosen))
        errors["organisation"] = "Enter an organisation's WorkLink id (at most 64 characters, no /)"
    with service_context().database.sessions() as session:
        known = {*session.scalars(sa.select(OrganisationContact.organisation_id).distinct()),
                 *session.scalars(sa.select(WebhookSubscriber.organisation_id).distinct())}
        names = org_names.names_of(session, OrganisationName.__table__, known)
    known = sorted(known, key=lambda org: (names.get(org, "\uffff" + org).casefold(), org))  # named first, by name
    return render_template("notifications/where_told_choose.html", known=known, names=names, errors=errors,
                           values={"organisation": chosen or ""}, nav=_nav()), 400 if errors else 200


@pages.get("/where-told/<string(maxlength=64):organisation_id>")
@requires(*TOLD_ROLES)
def where_told(organisation_id: str):
    principal = authenticate()
    _told_organisation(organisation_id)
    _remember_organisation_name(principal)
    with service_context().database.sessions() as session:
        organisation_name = org_names.names_of(session, OrganisationName.__table__, [organisation_id]).get(
            organisation_id)
        addresses = contacts.listed(session, organisation_id)
        hooks = subscribers.listed(session, organisation_id)
        signing_until = {hook.id: subscribers.previous_signs_until(hook) for hook in hooks}
    return render_template("notifications/where_told.html", organisation=organisation_id, contacts=addresses,
                           subscribers=hooks, signing_until=signing_until, nav=_nav(),
                           own=organisation_id == principal.organisation, organisation_name=organisation_name,
                           notice=TOLD_NOTICES.get(request.args.get("done", "")))


@pages.get("/where-told/<string(maxlength=64):organisation_id>/contacts/new")
@requires(*TOLD_ROLES)
def new_contact(organisation_id: str):
    _told_organisation(organisation_id)
    return _contact_form(organisation_id, None, {"purpose": "team", "frequency": "immediate"}, {})


@pages.post("/where-told/<string(maxlength=64):organisation_id>/contacts/new")
@requires(*TOLD_ROLES)
@accepts_form
def add_contact(organisation_id: str):
    return _save_contact(organisation_id, None)


@pages.get("/where-told/<string(maxlength=64):organisation_id>/contacts/<uuid:contact_id>")
@requires(*TOLD_ROLES)
def edit_contact(organisation_id: str, contact_id: uuid.UUID):
    _told_organisation(organisation_id)
    contact = _contact(organisation_id, contact_id)
    return _contact_form(organisation_id, contact, {name: getattr(contact, name) for name in CONTACT_ERRORS}, {},
                         contact.version)


@pages.post("/where-told/<string(maxlength=64):organisation_id>/contacts/<uuid:contact_id>")
@requires(*TOLD_ROLES)
@accepts_form
def change_contact(organisation_id: str, contact_id: uuid.UUID):
    return _save_contact(organisation_id, contact_id)


def _contact(organisation_id: str, contact_id: uuid.UUID):
    with service_context().database.sessions() as session:
        try:
            return contacts.found(session, organisation_id, contact_id)
        except contacts.NoSuchContact as exc:
            raise Problem(404, str(exc)) from None


def _save_contact(organisation_id: str, contact_id: uuid.UUID | None):
    """Add (contact_id None) or change a contact, by the API's schema and contacts.py; the form again with its
    errors, or back to the organisation's page. A change made from a contact someone else has changed since (the
    form's version) is not saved: the form comes back (409) with what was typed and what is saved now."""
    principal, ctx = require_organisation(organisation_id), service_context()
    values = {name: request.form.get(name, "").strip() for name in CONTACT_ERRORS}
    read_version = _form_version()
    errors = {}
    try:
        body = ContactIn().load(values)
    except ValidationError as exc:
        errors = {name: CONTACT_ERRORS[name] for name in CONTACT_ERRORS if name in exc.messages}
    if not errors:
        with ctx.database.transaction() as session:
            try:
                if contact_id is None:
                    contacts.add(session, ctx.audit, principal, organisation_id, body)
                else:
                    contacts.change(session, ctx.audit, principal, organisation_id, contact_id, body, read_version)
            except contacts.NoSuchContact as exc:
                raise Problem(404, str(exc)) from None
            except contacts.ContactTaken as exc:
                errors["email"] = f"{exc} Enter another address, or choose another purpose"
            except ChangedMeanwhile:
                errors = None  # answered once this transaction is over
    if errors is None:
        return _changed_contact(organisation_id, contact_id, values)
    if errors:
        contact = _contact(organisation_id, contact_id) if contact_id else None
        return _contact_form(organisation_id, contact, values, errors, read_version), 400
    return _told_page(organisation_id, "contact-changed" if contact_id else "contact-added", _anchor="contacts")


def _changed_contact(organisation_id: str, contact_id: uuid.UUID, values: dict):
    """The form again (409), with what was typed, each field that differs from what is saved now saying what that
    is, and the contact's version now: saving again replaces the other's change knowingly. Nothing differs: it is
    saved as the user wanted already."""
    contact = _contact(organisation_id, contact_id)
    errors = {name: CHANGED_MEANWHILE.format(what="contact", saved=CONTACT_WORDS.get(name, {}).get(saved, saved))
              for name in CONTACT_ERRORS if (saved := getattr(contact, name)) != values[name]}
    if not errors:
        return _told_page(organisation_id, "contact-changed", _anchor="contacts")
    return _contact_form(organisation_id, contact, values, errors, contact.version), 409


def _form_version() -> int:
    """The version of the contact or webhook a form was opened with (0, matching none, when missing)."""
    return whole_number(request.form.get("version"), 2**31 - 1) or 0


def _contact_form(organisation_id: str, contact, values: dict, errors: dict, version: int | None = None):
    return render_template("notifications/where_told_contact.html", organisation=organisation_id, contact=contact,
                           values=values, errors=errors, nav=_nav(), frequencies=FREQUENCIES, version=version,
                           digest_time=channels.digest_time(DeliverySettings.from_env(os.environ).digest_hour))


@pages.get("/where-told/<string(maxlength=64):organisation_id>/contacts/<uuid:contact_id>/remove")
@requires(*TOLD_ROLES)
def confirm_remove_contact(organisation_id: str, contact_id: uuid.UUID):
    """"Are you sure?" before an address stops being told anything."""
    _told_organisation(organisation_id)
    return render_template("notifications/where_told_remove_contact.html", organisation=organisation_id,
                           contact=_contact(organisation_id, contact_id), nav=_nav())


@pages.post("/where-told/<string(maxlength=64):organisation_id>/contacts/<uuid:contact_id>/remove")
@requires(*TOLD_ROLES)
@accepts_form
def remove_contact(organisation_id: str, contact_id: uuid.UUID):
    principal, ctx = require_organisation(organisation_id), service_context()
    if request.form.get("confirmed") != "yes":  # asked first (confirm_remove_contact)
        return redirect(url_for("notification_pages.confirm_remove_contact", organisation_id=organisation_id,
                                contact_id=contact_id), 303)
    with ctx.database.transaction() as session:
        try:
            contacts.remove(session, ctx.audit, principal, organisation_id, contact_id)
        except contacts.NoSuchContact as exc:
            raise Problem(404, str(exc)) from None
    return _told_page(organisation_id, "contact-removed", _anchor="contacts")


@pages.get("/where-told/<string(maxlength=64):organisation_id>/webhooks/new")
@requires(*TOLD_ROLES)
def new_webhook(organisation_id: str):
    _told_organisation(organisation_id)
    return _webhook_form(organisation_id, {"url": "", "event_types": []}, {})


@pages.post("/where-told/<string(maxlength=64):organisation_id>/webhooks/new")
@requires(*TOLD_ROLES)
@accepts_form
def add_webhook(organisation_id: str):
    """Registered by the API's schema and subscribers.py (where a webhook may go), then its secret shown once."""
    principal, ctx = require_organisation(organisation_id), service_context()
    values = {"url": request.form.get("url", "").strip(), "event_types": request.form.getlist("event_types")}
    errors = _webhook_errors(values)
    if errors:
        return _webhook_form(organisation_id, values, errors), 400
    with ctx.database.transaction() as session:
        try:
            subscriber, secret = subscribers.create(session, ctx.audit, principal,
                                                    current_app.config["WEBHOOK_SECRET_SEAL"], organisation_id,
                                                    values["url"], values["event_types"])
        except subscribers.UrlTaken as taken:  # e.g. this form sent twice: the first made it
            return _webhook_form(organisation_id, values, {"url": str(taken)}), 400
    return _show_secret_once(organisation_id, subscriber.id, secret)


@pages.get("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>")
@requires(*TOLD_ROLES)
def edit_webhook(organisation_id: str, subscriber_id: uuid.UUID):
    _told_organisation(organisation_id)
    with service_context().database.sessions() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)
    return _webhook_form(organisation_id, _webhook_values(subscriber), {}, subscriber, subscriber.version)


def _webhook_values(subscriber: WebhookSubscriber) -> dict:
    return {"url": subscriber.url, "event_types": [t for t in subscriber.event_types.split(",") if t]}


@pages.post("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>")
@requires(*TOLD_ROLES)
@accepts_form
def change_webhook(organisation_id: str, subscriber_id: uuid.UUID):
    """A new URL or event types, as the API's PATCH changes them (SubscriberPatch, subscribers.change); its secret
    and whether it is on stay as they were."""
    principal, ctx = require_organisation(organisation_id), service_context()
    values = {"url": request.form.get("url", "").strip(), "event_types": request.form.getlist("event_types")}
    read_version = _form_version()
    errors = _webhook_errors(values)
    with ctx.database.transaction() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)  # another organisation's: 404 first
        if not errors:
            try:
                subscribers.change(session, ctx.audit, principal, subscriber,
                                   {**SubscriberPatch(partial=("version",)).load(values), "version": read_version},
                                   ctx.settings.env, os.environ)
            except subscribers.UrlRefused as refused:  # checked above; kept for the rule's own say
                errors = {"url": refused.reason}
            except subscribers.UrlTaken as taken:
                errors = {"url": str(taken)}
            except ChangedMeanwhile:
                errors = None  # answered once this transaction is over
    if errors is None:
        return _changed_webhook(organisation_id, subscriber_id, values)
    if errors:
        return _webhook_form(organisation_id, values, errors, subscriber, read_version), 400
    return _told_page(organisation_id, "webhook-changed", _anchor="webhooks")


def _changed_webhook(organisation_id: str, subscriber_id: uuid.UUID, values: dict):
    """As _changed_contact: the form again (409), what was typed kept, what is saved now on each field that
    differs, and the webhook's version now. (A rotation moves it too, changing neither field: saved.)"""
    with service_context().database.sessions() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)
    saved = _webhook_values(subscriber)
    words = {"url": saved["url"], "event_types": ", ".join(saved["event_types"]) or "every event"}
    errors = {name: CHANGED_MEANWHILE.format(what="webhook", saved=words[name]) for name in WEBHOOK_ERRORS
              if _differs(saved[name], values[name])}
    if not errors:
        return _told_page(organisation_id, "webhook-changed", _anchor="webhooks")
    return _webhook_form(organisation_id, values, errors, subscriber, subscriber.version), 409


def _differs(saved, typed) -> bool:
    return sorted(saved) != sorted(typed) if isinstance(saved, list) else saved != typed  # event types: any order


def _webhook_errors(values: dict) -> dict:
    """The form's errors by field: the schema's (SubscriberIn), then where a webhook may go (subscribers.check_url),
    each in the API's words where they say what is wrong with this URL."""
    try:
        SubscriberIn().load(values)
    except ValidationError as exc:
        return {name: _url_words(exc.messages[name]) if name == "url" else WEBHOOK_ERRORS[name]
                for name in WEBHOOK_ERRORS if name in exc.messages}
    try:
        subscribers.check_url(values["url"], service_context().settings.env, os.environ)
    except subscribers.UrlRefused as refused:
        return {"url": refused.reason}
    return {}


def _url_words(messages: list[str]) -> str:
    """A URL the schema refused: its own rule's words (no credentials, a port, its length), or what to enter."""
    said = [message for message in messages if message not in ("Not a valid URL.", "Missing data for required field.",
                                                               "Field may not be null.")]
    return " ".join(said) if said else WEBHOOK_ERRORS["url"]


def _webhook_form(organisation_id: str, values: dict, errors: dict, subscriber: WebhookSubscriber | None = None,
                  version: int | None = None):
    """Add a webhook (subscriber None) or change one's URL and event types (from its `version`)."""
    return render_template("notifications/where_told_webhook.html", organisation=organisation_id, values=values,
                           errors=errors, event_types=routed_types(), nav=_nav(), subscriber=subscriber,
                           version=version)


def _webhook(organisation_id: str, subscriber_id: uuid.UUID, session):
    try:
        return subscribers.visible(session, authenticate(), subscriber_id, organisation_id)
    except subscribers.NotYours as exc:
        raise Problem(404, str(exc)) from None


@pages.get("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>/turn-off")
@requires(*TOLD_ROLES)
def confirm_webhook_off(organisation_id: str, subscriber_id: uuid.UUID):
    """"Are you sure?" before a partner system stops being sent anything."""
    _told_organisation(organisation_id)
    with service_context().database.sessions() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)
    if not subscriber.active:  # already off (another administrator, a second tab): nothing to ask
        return _told_page(organisation_id, "webhook-off", _anchor="webhooks")
    return render_template("notifications/where_told_webhook_off.html", organisation=organisation_id,
                           subscriber=subscriber, nav=_nav())


@pages.post("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>/active")
@requires(*TOLD_ROLES)
@accepts_form
def switch_webhook(organisation_id: str, subscriber_id: uuid.UUID):
    principal, ctx = require_organisation(organisation_id), service_context()
    active = request.form.get("active") == "true"
    if not active and request.form.get("confirmed") != "yes":  # turning off is asked first (confirm_webhook_off)
        return redirect(url_for("notification_pages.confirm_webhook_off", organisation_id=organisation_id,
                                subscriber_id=subscriber_id), 303)
    with ctx.database.transaction() as session:
        subscribers.change(session, ctx.audit, principal, _webhook(organisation_id, subscriber_id, session),
                           SubscriberPatch(partial=("version",)).load({"active": active}), ctx.settings.env,
                           os.environ)  # not checked: switching on or off undoes no one's change
    return _told_page(organisation_id, "webhook-on" if active else "webhook-off", _anchor="webhooks")


@pages.get("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>/remove")
@requires(*TOLD_ROLES)
def confirm_remove_webhook(organisation_id: str, subscriber_id: uuid.UUID):
    _told_organisation(organisation_id)
    with service_context().database.sessions() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)
    return render_template("notifications/where_told_remove_webhook.html", organisation=organisation_id,
                           subscriber=subscriber, nav=_nav())


@pages.post("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>/remove")
@requires(*TOLD_ROLES)
@accepts_form
def remove_webhook(organisation_id: str, subscriber_id: uuid.UUID):
    principal, ctx = require_organisation(organisation_id), service_context()
    if request.form.get("confirmed") != "yes":  # asked first (confirm_remove_webhook)
        return redirect(url_for("notification_pages.confirm_remove_webhook", organisation_id=organisation_id,
                                subscriber_id=subscriber_id), 303)
    with ctx.database.transaction() as session:
        subscribers.remove(session, ctx.audit, principal, _webhook(organisation_id, subscriber_id, session))
    return _told_page(organisation_id, "webhook-removed", _anchor="webhooks")


@pages.get("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>/rotate")
@requires(*TOLD_ROLES)
def confirm_rotate(organisation_id: str, subscriber_id: uuid.UUID):
    """What rotating does (the old secret signs on for a while), and, while the last rotation's old secret still
    signs, that rotating now stops it at once (after a leak)."""
    _told_organisation(organisation_id)
    with service_context().database.sessions() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)
    return render_template("notifications/where_told_rotate.html", organisation=organisation_id,
                           subscriber=subscriber, signing_until=subscribers.previous_signs_until(subscriber),
                           grace_hours=RotateIn().load({})["grace_hours"], nav=_nav(),
                           changed=request.args.get("changed") == "yes")


@pages.post("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>/rotate")
@requires(*TOLD_ROLES)
@accepts_form
def rotate_webhook(organisation_id: str, subscriber_id: uuid.UUID):
    principal, ctx = require_organisation(organisation_id), service_context()
    drop, keep = request.form.get("drop_previous") == "yes", request.form.get("keep_previous") == "yes"
    if drop and keep:  # no form of ours sends both: ask again
        return redirect(url_for("notification_pages.confirm_rotate", organisation_id=organisation_id,
                                subscriber_id=subscriber_id), 303)
    body = RotateIn().load({"drop_previous": drop, "keep_previous": keep})  # the API's grace
    with ctx.database.transaction() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)
        try:
            secret = subscribers.rotate(session, ctx.audit, principal, current_app.config["WEBHOOK_SECRET_SEAL"],
                                        subscriber, body["grace_hours"], body["drop_previous"], _form_version(),
                                        body["keep_previous"])
        except subscribers.StillSigning:  # it began to since the question was asked: ask again, as it is now
            return redirect(url_for("notification_pages.confirm_rotate", organisation_id=organisation_id,
                                    subscriber_id=subscriber_id), 303)
        except ChangedMeanwhile:  # rotated or changed since the question was asked (this form sent twice, say)
            return redirect(url_for("notification_pages.confirm_rotate", organisation_id=organisation_id,
                                    subscriber_id=subscriber_id, changed="yes"), 303)
    return _show_secret_once(organisation_id, subscriber_id, secret)


def _show_secret_once(organisation_id: str, subscriber_id: uuid.UUID, secret: str):
    """To the page that shows a new secret, once (_carry_once: never in an address, a log or the database in
    clear). A reload, or the same page later, shows it no more; a reload of a form's answer would have made
    another subscriber."""
    where = url_for("notification_pages.webhook_secret", organisation_id=organisation_id,
                    subscriber_id=subscriber_id)
    return _carry_once(redirect(where, 303), where, SECRET_COOKIE, SECRET_FOR, subscriber=str(subscriber_id),
                       secret=secret)


def _carry_once(response, path: str, cookie: str, kind: str, **carried):
    """What a form's answer tells the one page it goes to, shown there once: sealed (the session cookie's key) in a
    5-minute cookie for that page's path alone, for this user, which the page reads (_carried_once) and deletes
    (_forget_once). Nothing in the address, so a crafted link says nothing."""
    sealed = service_context().cookie_seal.seal(json.dumps({**carried, "for": kind,
                                                            "subject": authenticate().subject}))
    response.set_cookie(cookie, sealed, max_age=300, path=path, httponly=True, samesite="Strict",
                        secure=cookie_secure())
    return response


def _carried_once(cookie: str, kind: str) -> dict | None:
    """What _carry_once sealed for this page, if it was for this kind of page and this user; None otherwise."""
    opened = service_context().cookie_seal.unseal(request.cookies.get(cookie, ""))
    try:
        sent = json.loads(opened) if opened else {}
    except ValueError:
        return None
    if not isinstance(sent, dict) or (sent.get("for"), sent.get("subject")) != (kind, authenticate().subject):
        return None
    return sent


def _forget_once(response, cookie: str):
    response.delete_cookie(cookie, path=request.path, httponly=True, samesite="Strict", secure=cookie_secure())
    return response


@pages.get("/where-told/<string(maxlength=64):organisation_id>/webhooks/<uuid:subscriber_id>/secret")
@requires(*TOLD_ROLES)
def webhook_secret(organisation_id: str, subscriber_id: uuid.UUID):
    _told_organisation(organisation_id)
    with service_context().database.sessions() as session:
        subscriber = _webhook(organisation_id, subscriber_id, session)
        secret = _secret_to_show(subscriber)
    return _forget_once(make_response(render_template("notifications/where_told_secret.html", nav=_nav(),
                                                      organisation=organisation_id, subscriber=subscriber,
                                                      secret=secret)), SECRET_COOKIE)


def _secret_to_show(subscriber: WebhookSubscriber) -> str | None:
    """The secret the cookie brought, if it is this user's, for this subscriber, and still its signing secret (not
    rotated again since); None otherwise."""
    sent = _carried_once(SECRET_COOKIE, SECRET_FOR)
    if sent is None or sent.get("subscriber") != str(subscriber.id):
        return None
    try:
        current = webhook_secrets.opened(subscriber.secret, current_app.config["WEBHOOK_SECRET_SEAL"])
    except Unopenable:
        return None
    return sent["secret"] if hmac.compare_digest(current.encode(), str(sent.get("secret", "")).encode()) else None
