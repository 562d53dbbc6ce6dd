"""Server-rendered pages (NHS.UK frontend; they work without JavaScript)."""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, redirect, render_template, request, url_for
from marshmallow import ValidationError

from worklink.audit import person_record
from worklink.auth import authenticate, requires
from worklink.uktime import uk_time
from worklink.web import Problem, accepts_form, service_context
from worklink.web.numbers import whole_number
from worklink.web.pages import PagesBlueprint
from worklink_notifications import admin, channels, inbox, links
from worklink_notifications.api.admin import shown
from worklink_notifications.api.inbox import reference_keys
from worklink_notifications.delivery import DeliverySettings, as_utc
from worklink_notifications.models import FREQUENCIES, RoutingRule, WebhookSubscriber
from worklink_notifications.schemas import ChannelSettingsIn

pages = PagesBlueprint("notification_pages", __name__, template_folder="templates")

PAGE_SIZE = 50  # inbox items per page, newest first; failed deliveries per page on /admin too
SCOPES = {"user": "Your messages", "organisation": "Your organisation", "alliance": "The alliance"}


@pages.app_template_filter("uk_time")
def _uk_time(moment: datetime | None) -> str:
    """A stored moment (UTC) in UK time, named GMT or BST, as the inbox shows its times: a webhook failing since
    09:00 BST read 08:00 UTC beside messages in UK time."""
    return uk_time(as_utc(moment)).strftime("%-d %B %Y, %H:%M %Z") if moment else ""


def _nav() -> list[tuple[str, str]]:
    nav = [("Messages", url_for("notification_pages.messages")),
           ("Notification settings", url_for("notification_pages.settings_page"))]
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
    owners = inbox.owners_for(principal, reference_keys())
    scope = request.args.get("scope", "user")
    if scope not in {o.kind for o in owners}:
        scope = "user"
    owner = next(o for o in owners if o.kind == scope)
    page_number = _page_number(request.args.get("page"))
    with service_context().database.sessions() as session:
        counts = {o.kind: inbox.unread(session, o) for o in owners}
        items, total = inbox.items(session, owner, False, PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
    tabs = [(o.kind, SCOPES[o.kind], counts[o.kind]) for o in owners]
    notice = _marked_notice(request.args) if request.args.get("done") == "read" else None
    site_urls = links.sites(os.environ, service_context().settings.env)
    for item in items:
        item["link"] = links.record_link(item, site_urls)
        item["created_at"] = uk_time(item["created_at"])  # stored in UTC: an hour out all summer
    return render_template("notifications/messages.html", items=items, total=total, scope=scope, tabs=tabs,
                           unread_here=counts[scope], notice=notice, nav=_nav(), page_number=page_number,
                           pages_total=max(1, -(-total // PAGE_SIZE)))


def _marked_notice(args) -> str:
    """After "Mark all as read": only a count comes back in the address, the words are built here."""
    marked = whole_number(args.get("marked"), 100_000) or 0
    if not marked:
        return "There were no unread messages to mark as read."
    return f"{marked} message{'' if marked == 1 else 's'} marked as read."


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
    with service_context().database.transaction() as session:
        marked = inbox.mark_all_read(session, owner)
    return redirect(url_for("notification_pages.messages", scope=owner.kind, done="read", marked=marked))


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
        failed = [shown(d) for d in dead]
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
    if done == "rule" and rule_id:
        try:
            rule = session.get(RoutingRule, uuid.UUID(rule_id))
        except ValueError:
            return None
        if rule is not None:
            return f"{rule.event_type} → {rule.audience} is now {'on' if rule.enabled else 'off'}."
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
        try:
            admin.resend(delivery)
        except admin.CannotResend as exc:
            raise Problem(409, str(exc), title="This delivery cannot be re-sent") from None
        admin.audit_people(ctx.audit, session, [delivery], "update")
    return redirect(url_for("notification_pages.administration", done="resent",
                            page=_page_number(request.form.get("page"))))
