"""The page "Where your organisation is told" (/where-told): an organisation's e-mail contacts and webhooks, for
its administrator and the alliance's, through the API's own rules (contacts.py, subscribers.py), roles and scoping.
Through the Flask test client: another organisation's contacts and webhooks are not found, other roles refused,
forms refused without their CSRF token, a refused form answered with the NHS.UK error summary linked to its fields,
a webhook URL refused as the API refuses it, and a new signing secret shown once. In Chromium:
test_where_told_browser."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from tests.browser import sealed
from tests.people_rights import summary_links, text
from tests.services.notifications.test_pages import ADVISERS, PRACTICE, database_url  # noqa: F401 - SQLite
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications import webhook_secrets
from worklink_notifications.models import PLATFORM, OrganisationContact, WebhookSubscriber

pytestmark = pytest.mark.timeout(120)


def browser(app, role: str = "org_admin", org: str | None = ADVISERS, subject: str = "lee"):
    """A test client signed in as a page's user (the session cookie), holding the page's CSRF token."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, mint_token(app.extensions["worklink"].settings.jwt, role=role,
                                                             org=org, subject=subject)))
    client.csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                            client.get("/settings").get_data(as_text=True)).group(1)
    return client


def post(client, path: str, data: dict | None = None, csrf: bool = True):
    return client.post(path, data={**({"csrf_token": client.csrf} if csrf else {}), **(data or {})})


def bearer(app, role: str = "org_admin", org: str | None = ADVISERS) -> dict:
    return {"Authorization": "Bearer " + mint_token(app.extensions["worklink"].settings.jwt, role=role, org=org)}


def contact(database, organisation: str, email: str = "team@org.example") -> str:
    with database.transaction() as session:
        row = OrganisationContact(organisation_id=organisation, email=email, purpose="team")
        session.add(row)
        session.flush()
        return str(row.id)


def webhook(app, organisation: str, url: str = "https://crm.org.example/hooks") -> str:
    created = app.test_client().post("/webhook-subscribers", json={"url": url, "organisation_id": organisation},
                                     headers=bearer(app, "alliance_admin", None))
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def stored(database, model, row_id: str):
    with database.sessions() as session:
        return session.get(model, uuid.UUID(row_id))


def secret_of(app, database, subscriber_id: str) -> str:
    return webhook_secrets.opened(stored(database, WebhookSubscriber, subscriber_id).secret,
                                  app.config["WEBHOOK_SECRET_SEAL"])


def audited(database, resource_type: str) -> list[tuple]:
    audit = PLATFORM.audit_log
    with database.sessions() as session:
        return session.execute(sa.select(audit.c.actor, audit.c.action).where(
            audit.c.resource_type == resource_type).order_by(audit.c.id)).all()


def test_an_administrator_adds_changes_and_removes_a_contact_by_the_apis_rules(app, notifications_db):
    client = browser(app)
    start = client.get("/where-told")
    assert start.status_code == 302 and start.headers["Location"].endswith(f"/where-told/{ADVISERS}")
    home = f"/where-told/{ADVISERS}"
    page = client.get(home)
    assert page.status_code == 200 and "There are no email contacts yet." in text(page)
    assert "Where your organisation is told" in text(client.get("/messages"))  # in the header's menu

    refused = post(client, f"{home}/contacts/new", {"email": "not an address", "purpose": "boss",
                                                    "frequency": "immediate"})
    assert refused.status_code == 400
    assert summary_links(refused) == [("#email", "Enter an email address in the correct format, like team@example.org"),
                                      ("#purpose", "Choose who this address is for")]
    html = refused.get_data(as_text=True)
    assert 'id="email-error"' in html and 'aria-describedby="email-hint email-error"' in html
    assert 'id="purpose-error"' in html and 'value="not an address"' in html  # the answer kept
    assert "<title>Error: Add an email contact" in html

    added = post(client, f"{home}/contacts/new", {"email": "team@advisers.example", "purpose": "team",
                                                  "frequency": "daily"})
    assert added.status_code == 303 and added.headers["Location"].endswith(f"{home}?done=contact-added#contacts")
    api = app.test_client().get(f"/organisations/{ADVISERS}/contacts", headers=bearer(app)).get_json()
    assert [(c["email"], c["purpose"], c["frequency"]) for c in api] == [("team@advisers.example", "team", "daily")]
    shown = client.get(f"{home}?done=contact-added")
    assert "The contact was added." in text(shown) and "team@advisers.example" in text(shown)

    twice = post(client, f"{home}/contacts/new", {"email": "team@advisers.example", "purpose": "team",
                                                  "frequency": "immediate"})  # the API's 409, on its field
    assert twice.status_code == 400 and summary_links(twice)[0][0] == "#email"
    assert "team@advisers.example is already a team contact." in summary_links(twice)[0][1]

    contact_id = api[0]["id"]
    edit = client.get(f"{home}/contacts/{contact_id}")
    assert 'value="team@advisers.example"' in edit.get_data(as_text=True)
    assert 'name="version" value="1"' in edit.get_data(as_text=True)  # the version it was opened at
    changed = post(client, f"{home}/contacts/{contact_id}", {"email": "lead@advisers.example", "purpose": "lead",
                                                             "frequency": "immediate", "version": "1"})
    assert changed.status_code == 303 and "done=contact-changed" in changed.headers["Location"]
    row = stored(notifications_db, OrganisationContact, contact_id)
    assert (row.email, row.purpose, row.frequency) == ("lead@advisers.example", "lead", "immediate")

    unasked = post(client, f"{home}/contacts/{contact_id}/remove")
    assert unasked.status_code == 303 and unasked.headers["Location"].endswith(f"/contacts/{contact_id}/remove")
    assert stored(notifications_db, OrganisationContact, contact_id) is not None
    question = client.get(f"{home}/contacts/{contact_id}/remove")
    assert "Are you sure you want to remove this email contact?" in text(question)
    removed = post(client, f"{home}/contacts/{contact_id}/remove", {"confirmed": "yes"})
    assert removed.status_code == 303 and "done=contact-removed" in removed.headers["Location"]
    assert stored(notifications_db, OrganisationContact, contact_id) is None
    # Audited as the API's changes are (the same functions): who, and what they did.
    assert audited(notifications_db, "organisation_contact") == [("lee", "create"), ("lee", "update"),
                                                                  ("lee", "delete")]


def test_another_organisations_contacts_and_webhooks_are_not_found_and_other_roles_refused(app, notifications_db):
    theirs = contact(notifications_db, PRACTICE, "them@practice.example")
    their_hook = webhook(app, PRACTICE)
    their_secret = secret_of(app, notifications_db, their_hook)
    client, home = browser(app), f"/where-told/{ADVISERS}"
    assert client.get(f"/where-told/{PRACTICE}").status_code == 403  # the API's require_organisation
    assert post(client, f"/where-told/{PRACTICE}/contacts/new", {"email": "x@y.example", "purpose": "team",
                                                                 "frequency": "immediate"}).status_code == 403
    for path in (f"contacts/{theirs}", f"contacts/{theirs}/remove", f"webhooks/{their_hook}", f"webhooks/{their_hook}/turn-off",
                 f"webhooks/{their_hook}/remove", f"webhooks/{their_hook}/rotate", f"webhooks/{their_hook}/secret"):
        assert client.get(f"{home}/{path}").status_code == 404, path
    for path, data in ((f"contacts/{theirs}", {"email": "x@y.example", "purpose": "team", "frequency": "daily"}),
                       (f"contacts/{theirs}/remove", {"confirmed": "yes"}),
                       (f"webhooks/{their_hook}", {"url": "https://evil.advisers.example/hooks"}),
                       (f"webhooks/{their_hook}/active", {"active": "false", "confirmed": "yes"}),
                       (f"webhooks/{their_hook}/remove", {"confirmed": "yes"}),
                       (f"webhooks/{their_hook}/rotate", {"drop_previous": "yes"})):
        assert post(client, f"{home}/{path}", data).status_code == 404, path
    assert stored(notifications_db, OrganisationContact, theirs).email == "them@practice.example"
    hook = stored(notifications_db, WebhookSubscriber, their_hook)
    assert hook.active and secret_of(app, notifications_db, their_hook) == their_secret
    assert hook.url == "https://crm.org.example/hooks"
    assert "them@practice.example" not in text(client.get(home)) and "crm.org.example" not in text(client.get(home))

    adviser = browser(app, "adviser", ADVISERS, "ada")
    for path in ("/where-told", home, f"{home}/contacts/new", f"{home}/webhooks/new"):
        assert adviser.get(path).status_code == 403, path
    assert post(adviser, f"{home}/contacts/new", {"email": "x@y.example", "purpose": "team",
                                                  "frequency": "daily"}).status_code == 403
    assert "Where your organisation is told" not in text(adviser.get("/messages"))

    alliance = browser(app, "alliance_admin", None, "alex")  # may pick any organisation
    chooser = alliance.get("/where-told")
    assert chooser.status_code == 200 and PRACTICE in text(chooser)
    picked = alliance.get(f"/where-told?organisation={PRACTICE}")
    assert picked.status_code == 302 and picked.headers["Location"].endswith(f"/where-told/{PRACTICE}")
    assert "them@practice.example" in text(alliance.get(f"/where-told/{PRACTICE}"))
    nothing = alliance.get("/where-told?organisation=")
    assert nothing.status_code == 400 and summary_links(nothing)[0][0] == "#organisation"


def test_no_form_is_taken_without_its_csrf_token(app, notifications_db):
    hook = webhook(app, ADVISERS)
    secret = secret_of(app, notifications_db, hook)
    client, home = browser(app), f"/where-told/{ADVISERS}"
    for path, data in (("contacts/new", {"email": "x@advisers.example", "purpose": "team", "frequency": "daily"}),
                       ("webhooks/new", {"url": "https://other.advisers.example/hooks"}),
                       (f"webhooks/{hook}", {"url": "https://other.advisers.example/hooks"}),
                       (f"webhooks/{hook}/rotate", {}), (f"webhooks/{hook}/remove", {"confirmed": "yes"}),
                       (f"webhooks/{hook}/active", {"active": "false", "confirmed": "yes"})):
        refused = post(client, f"{home}/{path}", data, csrf=False)
        assert refused.status_code == 400 and "Your form could not be sent" in text(refused), path
        forged = post(client, f"{home}/{path}", {**data, "csrf_token": "forged"})
        assert forged.status_code == 400, path
    with notifications_db.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OrganisationContact)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(WebhookSubscriber)) == 1
    assert stored(notifications_db, WebhookSubscriber, hook).active and secret_of(app, notifications_db, hook) == secret
    assert stored(notifications_db, WebhookSubscriber, hook).url == "https://crm.org.example/hooks"


def test_a_new_webhooks_secret_and_a_rotated_one_are_shown_once(app, notifications_db):
    client, home = browser(app), f"/where-told/{ADVISERS}"
    made = post(client, f"{home}/webhooks/new", {"url": "https://crm.advisers.example/hooks",
                                                 "event_types": ["referrals.referral.submitted",
                                                                 "referrals.referral.accepted"]})
    assert made.status_code == 303
    [hook] = app.test_client().get("/webhook-subscribers", headers=bearer(app)).get_json()
    assert hook["event_types"] == ["referrals.referral.submitted", "referrals.referral.accepted"]
    assert made.headers["Location"].endswith(f"{home}/webhooks/{hook['id']}/secret")
    assert "whsec_" not in made.headers["Location"]  # never in an address
    shown = client.get(made.headers["Location"])
    secret = secret_of(app, notifications_db, hook["id"])
    assert shown.status_code == 200 and f'<code id="signing-secret">{secret}</code>' in shown.get_data(as_text=True)
    assert "It will not be shown again" in text(shown) and shown.headers["Cache-Control"] == "no-store"
    again = client.get(made.headers["Location"])  # a reload, or the page later
    assert "The signing secret is not shown again" in text(again) and secret not in again.get_data(as_text=True)
    other = browser(app, "org_admin", ADVISERS, "lou")  # another administrator of the same organisation
    assert secret not in other.get(made.headers["Location"]).get_data(as_text=True)

    question = client.get(f"{home}/webhooks/{hook['id']}/rotate")
    assert "The secret in use now also signs them for 24 hours" in text(question)
    rotated = post(client, f"{home}/webhooks/{hook['id']}/rotate", {"version": "1"})
    assert rotated.status_code == 303 and rotated.headers["Location"] == made.headers["Location"]
    new = secret_of(app, notifications_db, hook["id"])
    assert new != secret and new in client.get(rotated.headers["Location"]).get_data(as_text=True)
    assert new not in client.get(rotated.headers["Location"]).get_data(as_text=True)
    assert "The old secret also signs until" in text(client.get(home))

    # The API's rule: while the last old secret signs, another rotation drops it, so it is asked for by name.
    still = client.get(f"{home}/webhooks/{hook['id']}/rotate")
    assert "The last old secret still signs" in text(still) and 'name="drop_previous" value="yes"' in \
        still.get_data(as_text=True)
    unasked = post(client, f"{home}/webhooks/{hook['id']}/rotate", {"version": "2"})  # a form without it: asked
    assert unasked.status_code == 303 and unasked.headers["Location"].endswith("/rotate")
    assert secret_of(app, notifications_db, hook["id"]) == new
    dropped = post(client, f"{home}/webhooks/{hook['id']}/rotate", {"drop_previous": "yes", "version": "2"})
    newest = secret_of(app, notifications_db, hook["id"])
    assert newest != new and newest in client.get(dropped.headers["Location"]).get_data(as_text=True)
    assert audited(notifications_db, "webhook_subscriber") == [("lee", "create"), ("lee", "update"),
                                                                ("lee", "update")]


def test_a_webhook_is_turned_off_and_removed_only_when_confirmed(app, notifications_db):
    hook = webhook(app, ADVISERS)
    client, home = browser(app), f"/where-told/{ADVISERS}"
    unasked = post(client, f"{home}/webhooks/{hook}/active", {"active": "false"})
    assert unasked.status_code == 303 and unasked.headers["Location"].endswith(f"/webhooks/{hook}/turn-off")
    assert stored(notifications_db, WebhookSubscriber, hook).active
    assert "Are you sure you want to turn off this webhook?" in text(client.get(unasked.headers["Location"]))
    off = post(client, f"{home}/webhooks/{hook}/active", {"active": "false", "confirmed": "yes"})
    assert "done=webhook-off" in off.headers["Location"]
    assert not stored(notifications_db, WebhookSubscriber, hook).active
    on = post(client, f"{home}/webhooks/{hook}/active", {"active": "true"})  # not asked
    assert "done=webhook-on" in on.headers["Location"] and stored(notifications_db, WebhookSubscriber, hook).active
    assert post(client, f"{home}/webhooks/{hook}/remove").status_code == 303
    assert stored(notifications_db, WebhookSubscriber, hook) is not None
    assert "Are you sure you want to remove this webhook?" in text(client.get(f"{home}/webhooks/{hook}/remove"))
    removed = post(client, f"{home}/webhooks/{hook}/remove", {"confirmed": "yes"})
    assert "done=webhook-removed" in removed.headers["Location"]
    assert stored(notifications_db, WebhookSubscriber, hook) is None
    assert app.test_client().get(f"/webhook-subscribers/{hook}", headers=bearer(app)).status_code == 404


REFUSED_URLS = ("", "not a url", "ftp://crm.example.org/hooks", "https://user:pw@crm.example.org/hooks",
                "https://crm.example.org:99999/hooks", "https://crm.example.org/" + "a" * 2048,
                "https://127.0.0.1/hooks", "https://localhost/hooks", "https://169.254.169.254/latest/meta-data/",
                "https://10.1.2.3/hooks", "https://[::1]/hooks", "https://metadata.google.internal/")


def test_the_page_refuses_the_webhook_urls_the_api_refuses_on_the_url_field(app, notifications_db, monkeypatch):
    monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE", "0")  # as production: no private targets
    client, home = browser(app), f"/where-told/{ADVISERS}"
    for url in REFUSED_URLS:
        api = app.test_client().post("/webhook-subscribers", json={"url": url}, headers=bearer(app))
        assert api.status_code == 422 and "/url" in [e["pointer"] for e in api.get_json()["errors"]], url
        page = post(client, f"{home}/webhooks/new", {"url": url})
        assert page.status_code == 400, url
        [(href, message)] = summary_links(page)
        assert href == "#url" and 'id="url-error"' in page.get_data(as_text=True), url
        said = [e["detail"] for e in api.get_json()["errors"] if e["pointer"] == "/url"]
        if "public internet" in api.get_json()["detail"]:  # where a webhook may go: the API's very words
            assert message == said[0], url
    refused = post(client, f"{home}/webhooks/new", {"url": "https://127.0.0.1/hooks"})
    assert summary_links(refused) == [("#url", "127.0.0.1 is not a public internet address.")]
    typo = post(client, f"{home}/webhooks/new", {"url": "https://crm.advisers.example/hooks",
                                                 "event_types": ["referrals.referal.accepted"]})  # a forged form
    assert summary_links(typo) == [("#event_types", "Choose events from the list")]
    monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE", "1")  # to register one to change
    hook = webhook(app, ADVISERS)
    monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE", "0")
    for url in REFUSED_URLS:  # a change is refused as the API's PATCH refuses it
        api = app.test_client().patch(f"/webhook-subscribers/{hook}", json={"url": url}, headers=bearer(app))
        assert api.status_code == 422, url
        page = post(client, f"{home}/webhooks/{hook}", {"url": url})
        assert page.status_code == 400 and [href for href, _ in summary_links(page)] == ["#url"], url
        said = [e["detail"] for e in api.get_json().get("errors", []) if e["pointer"] == "/url"]
        if "public internet" in api.get_json()["detail"]:
            assert summary_links(page)[0][1] == said[0], url
    assert stored(notifications_db, WebhookSubscriber, hook).url == "https://crm.org.example/hooks"
    with notifications_db.transaction() as session:
        session.delete(session.get(WebhookSubscriber, uuid.UUID(hook)))
    with notifications_db.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(WebhookSubscriber)) == 0
    assert post(client, f"{home}/webhooks/new", {"url": "https://crm.advisers.example/hooks"}).status_code == 303
    assert app.test_client().post("/webhook-subscribers", json={"url": "https://crm.advisers.example/v2/hooks"},
                                  headers=bearer(app)).status_code == 201


def test_a_second_webhook_to_the_same_address_is_refused_on_the_url_field_and_by_the_api(app, notifications_db):
    """A form sent twice (a double click, a reload of its answer) made two webhooks to one receiver: each event went
    twice, and the first one's secret - on the answer the browser dropped - was never shown, so every request it
    signed was refused."""
    client, home = browser(app), f"/where-told/{ADVISERS}"
    form = {"url": "https://crm.advisers.example/hooks", "event_types": ["referrals.referral.accepted"]}
    assert post(client, f"{home}/webhooks/new", form).status_code == 303
    again = post(client, f"{home}/webhooks/new", form)
    assert again.status_code == 400
    assert summary_links(again) == [("#url", "There is already a webhook to this address. Change that one's events "
                                             "instead, or rotate its secret if it was not copied")]
    assert 'value="https://crm.advisers.example/hooks"' in again.get_data(as_text=True)  # what was typed, kept
    with notifications_db.sessions() as session:
        [hook] = [str(row) for row in session.scalars(sa.select(WebhookSubscriber.id))]
    api = app.test_client().post("/webhook-subscribers", json={"url": form["url"]}, headers=bearer(app))
    assert api.status_code == 409 and api.mimetype == "application/problem+json"
    assert api.get_json()["subscriber_id"] == hook and [e["pointer"] for e in api.get_json()["errors"]] == ["/url"]

    other = webhook(app, ADVISERS)  # moving another webhook onto that address: refused too
    moved = post(client, f"{home}/webhooks/{other}", {"url": form["url"], "version": "1"})
    assert moved.status_code == 400 and [href for href, _ in summary_links(moved)] == ["#url"]
    patched = app.test_client().patch(f"/webhook-subscribers/{other}", json={"url": form["url"], "version": 1},
                                      headers=bearer(app))
    assert patched.status_code == 409 and patched.get_json()["subscriber_id"] == hook
    assert stored(notifications_db, WebhookSubscriber, other).url == "https://crm.org.example/hooks"
    assert post(client, f"{home}/webhooks/{hook}", {"url": form["url"], "version": "1"}).status_code == 303  # its own
    webhook(app, PRACTICE, form["url"])  # another organisation's webhook to the same receiver is its own


def test_an_administrator_changes_a_webhooks_address_and_events_as_the_apis_patch(app, notifications_db):
    hook = webhook(app, ADVISERS)
    secret = secret_of(app, notifications_db, hook)
    client, home = browser(app), f"/where-told/{ADVISERS}"
    assert f'href="{home}/webhooks/{hook}"' in client.get(home).get_data(as_text=True)  # 'Change' in its row
    form = client.get(f"{home}/webhooks/{hook}")
    assert form.status_code == 200 and "Change a webhook" in text(form)
    assert 'value="https://crm.org.example/hooks"' in form.get_data(as_text=True)
    assert "signing secret once" not in text(form)  # the secret stays as it is

    typo = post(client, f"{home}/webhooks/{hook}", {"url": "https://crm.advisers.example/hooks",
                                                    "event_types": ["referrals.referal.accepted"]})
    assert typo.status_code == 400 and summary_links(typo) == [("#event_types", "Choose events from the list")]
    assert 'value="https://crm.advisers.example/hooks"' in typo.get_data(as_text=True)  # what was typed, kept
    assert stored(notifications_db, WebhookSubscriber, hook).url == "https://crm.org.example/hooks"

    changed = post(client, f"{home}/webhooks/{hook}", {"url": "https://crm.advisers.example/v2/hooks",
                                                       "event_types": ["referrals.referral.accepted"], "version": "1"})
    assert changed.status_code == 303 and "done=webhook-changed" in changed.headers["Location"]
    assert "The webhook was changed." in text(client.get(changed.headers["Location"]))
    api = app.test_client().get(f"/webhook-subscribers/{hook}", headers=bearer(app)).get_json()
    assert (api["url"], api["event_types"], api["active"]) == (
        "https://crm.advisers.example/v2/hooks", ["referrals.referral.accepted"], True)
    assert secret_of(app, notifications_db, hook) == secret
    every = post(client, f"{home}/webhooks/{hook}", {"url": "https://crm.advisers.example/v2/hooks", "version": "2"})
    assert every.status_code == 303  # no event chosen: every event, as the API's empty list
    assert app.test_client().get(f"/webhook-subscribers/{hook}", headers=bearer(app)).get_json()["event_types"] == []
    assert audited(notifications_db, "webhook_subscriber")[-2:] == [("lee", "update"), ("lee", "update")]
    assert len(audited(notifications_db, "webhook_subscriber")) == 3  # the refused change: nothing recorded


def test_the_api_changes_and_removes_by_the_same_rules(app, notifications_db):
    """PUT on a contact and DELETE on a subscriber: the page's change and removal, for programs."""
    theirs = contact(notifications_db, PRACTICE)
    mine = contact(notifications_db, ADVISERS)
    api, admin = app.test_client(), bearer(app)
    contacts = f"/organisations/{ADVISERS}/contacts"
    changed = api.put(f"{contacts}/{mine}", json={"email": "lead@advisers.example", "purpose": "lead", "version": 1},
                      headers=admin)
    assert changed.status_code == 200 and changed.get_json()["purpose"] == "lead"
    assert api.put(f"{contacts}/{theirs}", json={"email": "a@b.example", "version": 1}, headers=admin).status_code \
        == 404
    assert api.put(f"/organisations/{PRACTICE}/contacts/{theirs}", json={"email": "a@b.example", "version": 1},
                   headers=admin).status_code == 403
    api.post(contacts, json={"email": "team@advisers.example"}, headers=admin)
    taken = api.put(f"{contacts}/{mine}", json={"email": "team@advisers.example", "version": 2}, headers=admin)
    assert taken.status_code == 409
    hook, their_hook = webhook(app, ADVISERS), webhook(app, PRACTICE)
    assert api.delete(f"/webhook-subscribers/{their_hook}", headers=admin).status_code == 404
    assert api.delete(f"/webhook-subscribers/{hook}", headers=admin).status_code == 204
    assert stored(notifications_db, WebhookSubscriber, hook) is None
    assert stored(notifications_db, WebhookSubscriber, their_hook) is not None


def opened_version(page) -> str:
    return re.search(r'name="version" value="(\d+)"', page.get_data(as_text=True)).group(1)


def test_a_contact_someone_else_changed_since_the_page_opened_is_not_overwritten(app, notifications_db):
    """Two administrators editing one contact: the later save silently undid the earlier one. Now it comes back
    (409) with what was typed, each field the other changed saying what is saved now, to be saved again knowingly."""
    contact_id = contact(notifications_db, ADVISERS, "team@advisers.example")
    home = f"/where-told/{ADVISERS}"
    ada, bob = browser(app, subject="ada"), browser(app, subject="bob")
    ada_read = opened_version(ada.get(f"{home}/contacts/{contact_id}"))
    bob_read = opened_version(bob.get(f"{home}/contacts/{contact_id}"))
    assert post(bob, f"{home}/contacts/{contact_id}", {"email": "bob@advisers.example", "purpose": "team",
                                                       "frequency": "immediate", "version": bob_read}).status_code == 303
    adas = {"email": "team@advisers.example", "purpose": "lead", "frequency": "daily"}
    refused = post(ada, f"{home}/contacts/{contact_id}", {**adas, "version": ada_read})
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert "<title>Error: Change an email contact" in html
    said = "Not saved: someone else changed this contact after you opened the page. Saved now: \u201c{}\u201d. " \
           "Save again to replace it with what you entered here"
    assert summary_links(refused) == [("#email", said.format("bob@advisers.example")),
                                      ("#purpose", said.format("The organisation's team")),
                                      ("#frequency", said.format("An email for each message"))]
    assert 'value="team@advisers.example"' in html and 'value="lead" checked' in html  # what she typed, kept
    row = stored(notifications_db, OrganisationContact, contact_id)
    assert (row.email, row.purpose, row.frequency, row.version) == ("bob@advisers.example", "team", "immediate", 2)
    assert opened_version(refused) == "2"
    again = post(ada, f"{home}/contacts/{contact_id}", {**adas, "version": opened_version(refused)})
    assert again.status_code == 303 and "done=contact-changed" in again.headers["Location"]
    row = stored(notifications_db, OrganisationContact, contact_id)
    assert (row.email, row.purpose, row.frequency, row.version) == ("team@advisers.example", "lead", "daily", 3)
    assert audited(notifications_db, "organisation_contact") == [("bob", "update"), ("ada", "update")]


def test_a_webhook_someone_else_changed_since_the_page_opened_is_not_overwritten(app, notifications_db):
    hook = webhook(app, ADVISERS)
    home = f"/where-told/{ADVISERS}"
    ada, bob = browser(app, subject="ada"), browser(app, subject="bob")
    ada_read = opened_version(ada.get(f"{home}/webhooks/{hook}"))
    assert post(bob, f"{home}/webhooks/{hook}", {"url": "https://crm.org.example/hooks",
                                                 "event_types": ["referrals.referral.accepted"],
                                                 "version": opened_version(bob.get(f"{home}/webhooks/{hook}"))}
                ).status_code == 303
    refused = post(ada, f"{home}/webhooks/{hook}", {"url": "https://crm.org.example/v2/hooks", "version": ada_read})
    assert refused.status_code == 409
    said = "Not saved: someone else changed this webhook after you opened the page. Saved now: \u201c{}\u201d. " \
           "Save again to replace it with what you entered here"
    assert summary_links(refused) == [("#url", said.format("https://crm.org.example/hooks")),
                                      ("#event_types", said.format("referrals.referral.accepted"))]
    assert 'value="https://crm.org.example/v2/hooks"' in refused.get_data(as_text=True)  # what she typed, kept
    row = stored(notifications_db, WebhookSubscriber, hook)
    assert (row.url, row.event_types, row.version) == ("https://crm.org.example/hooks", "referrals.referral.accepted",
                                                       2)


def test_a_rotation_sent_twice_from_the_page_rotates_once(app, notifications_db):
    """The rotate buttons' only guard was JavaScript's double-click prevention: without it (or with a reload of the
    answer) the form went twice. "Rotate now and stop the old secret" sent twice stopped the secret the partner
    system still used, and the first answer's new secret was never shown."""
    hook = webhook(app, ADVISERS)
    client, home = browser(app), f"/where-told/{ADVISERS}"
    post(client, f"{home}/webhooks/{hook}/rotate",
         {"version": opened_version(client.get(f"{home}/webhooks/{hook}/rotate"))})
    in_use = secret_of(app, notifications_db, hook)  # the partner system switched to this one
    question = client.get(f"{home}/webhooks/{hook}/rotate")
    assert "You can rotate it without stopping any secret the partner system may use after" in text(question)
    form = {"drop_previous": "yes", "version": opened_version(question)}
    first = post(client, f"{home}/webhooks/{hook}/rotate", form)
    second = post(client, f"{home}/webhooks/{hook}/rotate", form)
    assert first.headers["Location"].endswith(f"/webhooks/{hook}/secret")
    assert second.status_code == 303 and second.headers["Location"].endswith(f"/webhooks/{hook}/rotate?changed=yes")
    subscriber = stored(notifications_db, WebhookSubscriber, hook)
    assert webhook_secrets.opened(subscriber.previous_secret, app.config["WEBHOOK_SECRET_SEAL"]) == in_use
    asked_again = client.get(second.headers["Location"])
    assert "after you opened this page (a rotation sent twice does this), so nothing was rotated now" in \
        text(asked_again)
    assert audited(notifications_db, "webhook_subscriber")[1:] == [("lee", "update"), ("lee", "update")]  # twice


def test_a_newest_secret_never_seen_is_replaced_while_the_one_in_use_signs_on(app, notifications_db):
    """"Rotate the secret" sent twice: the first answer (the new secret) was dropped by the browser, the second is
    asked again. The partner system still uses the old secret; stopping it would fail every webhook at once, and
    waiting for it to expire would too. "Replace the newest secret" makes another in the unseen one's place, shown
    once, and the old one signs on until it was due to stop."""
    hook = webhook(app, ADVISERS)
    in_use = secret_of(app, notifications_db, hook)
    client, home = browser(app), f"/where-told/{ADVISERS}"
    form = {"version": opened_version(client.get(f"{home}/webhooks/{hook}/rotate"))}
    first = post(client, f"{home}/webhooks/{hook}/rotate", form)  # its answer never shown
    unseen = secret_of(app, notifications_db, hook)
    expires = stored(notifications_db, WebhookSubscriber, hook).previous_secret_expires_at
    second = post(client, f"{home}/webhooks/{hook}/rotate", form)
    assert first.status_code == second.status_code == 303 and second.headers["Location"].endswith("?changed=yes")
    asked = client.get(second.headers["Location"])
    assert "replace the newest secret below rather than stopping the old one" in text(asked)
    assert 'name="keep_previous" value="yes"' in asked.get_data(as_text=True)
    replaced = post(client, f"{home}/webhooks/{hook}/rotate", {"keep_previous": "yes",
                                                                 "version": opened_version(asked)})
    newest = secret_of(app, notifications_db, hook)
    assert newest not in (in_use, unseen) and newest in client.get(replaced.headers["Location"]).get_data(as_text=True)
    subscriber = stored(notifications_db, WebhookSubscriber, hook)
    assert webhook_secrets.signing_secrets(subscriber, app.config["WEBHOOK_SECRET_SEAL"], datetime.now(timezone.utc)) \
        == [newest, in_use]  # the unseen one signs nothing
    assert subscriber.previous_secret_expires_at == expires  # the old one stops when it was due to, not later
    both = post(client, f"{home}/webhooks/{hook}/rotate", {"keep_previous": "yes", "drop_previous": "yes",
                                                             "version": str(subscriber.version)})
    assert both.status_code == 303 and both.headers["Location"].endswith("/rotate")  # a forged form: asked again
    assert secret_of(app, notifications_db, hook) == newest
