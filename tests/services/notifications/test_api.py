"""The JSON API: inbox per user / organisation / alliance, settings, contacts, rules, subscribers."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from worklink.pseudonyms import clinician_reference
from worklink_notifications import routing
from worklink_notifications.models import Delivery, UserChannelSettings

ADVISERS, PRACTICE = str(uuid.uuid4()), str(uuid.uuid4())


def route(database, event_type: str, **data) -> str:
    data = {"referral_id": uuid.uuid4(), "status": "x", "referrer_org_id": uuid.UUID(PRACTICE),
            "assigned_org_id": uuid.UUID(ADVISERS), "occurred_at": datetime.now(timezone.utc), **data}
    event = SimpleNamespace(id=str(uuid.uuid4()), type=event_type, data=data)
    with database.transaction() as session:
        routing.route_event(session, event)
    return event.id


def delivery_of(database, event_id: str) -> uuid.UUID:
    with database.sessions() as session:
        return session.scalar(sa.select(Delivery.id).where(Delivery.event_id == event_id, Delivery.channel == "inbox",
                                                           Delivery.recipient_kind == "user"))


def test_organisation_inbox_unread_counts_and_mark_read(app, notifications_db, token):
    client = app.test_client()
    adviser = token("adviser", org=ADVISERS, sub="adviser-1")
    route(notifications_db, "referrals.referral.submitted")
    route(notifications_db, "referrals.referral.allocated")
    route(notifications_db, "referrals.referral.accepted")  # goes to the practice, not the advisers

    assert client.get("/inbox", headers=adviser).get_json()["items"] == []  # own inbox is empty
    page = client.get("/inbox?scope=organisation", headers=adviser).get_json()
    assert [i["title"] for i in page["items"]] == ["Referral allocated", "New referral"]  # newest first
    assert (page["unread"], page["total"]) == (2, 2)
    assert client.get("/inbox/unread-counts", headers=adviser).get_json() == {"user": 0, "organisation": 2}

    first = page["items"][0]["id"]
    read = client.post(f"/inbox/{first}/read", headers=adviser)
    assert read.status_code == 200 and read.get_json()["read_at"]
    colleague = token("adviser", org=ADVISERS, sub="adviser-2")
    assert client.get("/inbox/unread-counts", headers=colleague).get_json()["organisation"] == 1  # read for the team
    unread = client.get("/inbox?scope=organisation&unread=true", headers=colleague).get_json()
    assert [i["title"] for i in unread["items"]] == ["New referral"]

    # Another organisation can neither see nor mark these items.
    gp = token("gp", org=PRACTICE)
    assert client.post(f"/inbox/{first}/read", headers=gp).status_code == 404
    assert [i["title"] for i in client.get("/inbox?scope=organisation", headers=gp).get_json()["items"]] == [
        "Referral accepted"]
    assert client.post("/inbox/read", json={"scope": "organisation"}, headers=adviser).get_json() == {"marked": 1}


def test_inbox_scopes_need_the_right_caller(app, token):
    client = app.test_client()
    assert client.get("/inbox").status_code == 401
    resident = client.get("/inbox?scope=organisation", headers=token("resident"))
    assert resident.status_code == 403 and resident.mimetype == "application/problem+json"
    assert client.get("/inbox?scope=alliance", headers=token("adviser", org=ADVISERS)).status_code == 403
    assert client.get("/inbox?scope=alliance", headers=token("alliance_admin")).status_code == 200
    bad = client.get("/inbox?scope=everyone&limit=0", headers=token("gp", org=PRACTICE))
    assert bad.status_code == 422
    assert {e["pointer"] for e in bad.get_json()["errors"]} == {"/scope", "/limit"}


def test_a_clinicians_inbox_holds_what_was_addressed_to_their_reference(app, notifications_db, token):
    client = app.test_client()
    ada, bob = "ada@practice.example", "bob@practice.example"
    reference = clinician_reference(ada, app.config["CLINICIAN_REFERENCE_KEY"])
    response = {"response_id": uuid.uuid4(), "suggestion_id": uuid.uuid4(), "practice_id": uuid.UUID(PRACTICE),
                "outcome": "agreed", "items": [], "recorded_at": datetime.now(timezone.utc)}
    route(notifications_db, "adjustments.employer_response.recorded", clinician_id=reference, **response)
    plain = route(notifications_db, "adjustments.employer_response.recorded", clinician_id=bob,
                  **response | {"response_id": uuid.uuid4()})  # a plain user id still reaches its user

    as_ada, as_bob = token("gp", org=PRACTICE, sub=ada), token("gp", org=PRACTICE, sub=bob)
    page = client.get("/inbox", headers=as_ada).get_json()
    assert [i["event_type"] for i in page["items"]] == ["adjustments.employer_response.recorded"]
    assert (page["total"], page["unread"]) == (1, 1)
    assert client.get("/inbox/unread-counts", headers=as_ada).get_json()["user"] == 1
    assert [i["id"] for i in client.get("/inbox", headers=as_bob).get_json()["items"]] == [
        str(delivery_of(notifications_db, plain))]  # not another clinician's
    item = page["items"][0]["id"]
    assert client.post(f"/inbox/{item}/read", headers=as_bob).status_code == 404
    assert client.post(f"/inbox/{item}/read", headers=as_ada).status_code == 200
    assert client.get("/inbox/unread-counts", headers=as_ada).get_json()["user"] == 0
    # The practice hears of the answer too, in its own inbox.
    practice = client.get("/inbox?scope=organisation", headers=as_bob).get_json()["items"]
    assert "adjustments.employer_response.recorded" in [i["event_type"] for i in practice]


def test_saving_channel_settings_stores_the_users_reference(app, notifications_db, token):
    client = app.test_client()
    me = token("gp", org=PRACTICE, sub="ada@practice.example")
    assert client.put("/me/channels", json={"email": "ada@practice.example", "email_enabled": True},
                      headers=me).status_code == 200
    with notifications_db.sessions() as session:
        saved = session.get(UserChannelSettings, "ada@practice.example")
    assert saved.clinician_reference == clinician_reference("ada@practice.example",
                                                            app.config["CLINICIAN_REFERENCE_KEY"])


def test_my_channel_settings(app, token):
    client = app.test_client()
    me = token("gp", org=PRACTICE, sub="gp-7")
    assert client.get("/me/channels", headers=me).get_json()["email_enabled"] is False
    missing = client.put("/me/channels", json={"email_enabled": True}, headers=me)
    assert missing.status_code == 422 and missing.get_json()["errors"][0]["pointer"] == "/email"
    saved = client.put("/me/channels", json={"email": "gp7@practice.example", "email_enabled": True,
                                             "frequency": "daily"}, headers=me)
    assert saved.status_code == 200
    assert client.get("/me/channels", headers=me).get_json() | {"updated_at": None} == {
        "user_id": "gp-7", "organisation_id": PRACTICE, "email": "gp7@practice.example", "inbox_enabled": True,
        "email_enabled": True, "frequency": "daily", "updated_at": None}
    assert client.put("/me/channels", json={"frequency": "hourly"}, headers=me).status_code == 422


def test_organisation_contacts_are_scoped_to_the_organisation(app, token):
    client = app.test_client()
    admin = token("org_admin", org=ADVISERS)
    created = client.post(f"/organisations/{ADVISERS}/contacts", json={"email": "lead@a.example", "purpose": "lead"},
                          headers=admin)
    assert created.status_code == 201
    assert client.post(f"/organisations/{ADVISERS}/contacts", json={"email": "lead@a.example", "purpose": "lead"},
                       headers=admin).status_code == 409
    assert client.get(f"/organisations/{PRACTICE}/contacts", headers=admin).status_code == 403
    assert client.get(f"/organisations/{ADVISERS}/contacts", headers=token("adviser", org=ADVISERS)).status_code == 403
    assert [c["email"] for c in client.get(f"/organisations/{ADVISERS}/contacts",
                                           headers=token("alliance_admin")).get_json()] == ["lead@a.example"]
    bad = client.post(f"/organisations/{ADVISERS}/contacts", json={"email": "nope"}, headers=admin)
    assert bad.get_json()["errors"][0]["pointer"] == "/email"
    contact = created.get_json()["id"]
    assert client.delete(f"/organisations/{ADVISERS}/contacts/{contact}", headers=admin).status_code == 204


def test_no_address_that_could_add_a_header_or_a_recipient_reaches_an_email(app, token):
    """The only header a caller's words reach is To (subjects are the message code's wording, Message-ID the
    delivery id): a user's own address, an organisation's contact and a resident's consented route are each one
    address, and an address carrying a line break is refused again when the e-mail is made."""
    from worklink.events.catalogue import EventSchemaError
    from worklink.events.contracts import CATALOGUE
    from worklink_notifications.delivery import DeliverySettings, render_email

    client = app.test_client()
    me, admin = token("gp", org=PRACTICE, sub="gp-8"), token("org_admin", org=ADVISERS)
    for forged in ("gp8@practice.example\r\nBcc: all@elsewhere.example", "gp8@practice.example, all@elsewhere.example",
                   "gp8@practice.example\nSubject: urgent", "GP <gp8@practice.example>"):
        mine = client.put("/me/channels", json={"email": forged, "email_enabled": True}, headers=me)
        assert mine.status_code == 422 and mine.mimetype == "application/problem+json", forged
        contact = client.post(f"/organisations/{ADVISERS}/contacts", json={"email": forged}, headers=admin)
        assert contact.status_code == 422, forged
        request = {"message_id": str(uuid.uuid4()), "person_id": str(uuid.uuid4()), "consent_id": str(uuid.uuid4()),
                   "message_code": "referral_accepted", "contact": {"channel": "email", "address": forged},
                   "requested_at": datetime.now(timezone.utc).isoformat()}
        try:
            CATALOGUE.build("notifications.person_message.requested", request, source="urn:worklink:referrals")
        except EventSchemaError:
            continue
        raise AssertionError(f"the person-message contract took {forged!r}")
    stored = Delivery(id=uuid.uuid4(), recipient_kind="contact", message_code="referral_accepted", facts={},
                      address="gp8@practice.example\r\nBcc: all@elsewhere.example")  # written to the database by hand
    try:
        render_email(stored, DeliverySettings())
    except ValueError:
        pass
    else:
        raise AssertionError("an address with a line break became a header")


def test_nobody_else_reads_or_marks_a_users_own_inbox_items(app, notifications_db, token):
    """A user's own items are theirs alone: not a colleague's, nor the alliance's, by id or by scope."""
    client = app.test_client()
    with notifications_db.transaction() as session:
        routing.add_delivery(session, event_id=str(uuid.uuid4()), event_type="adjustments.employer_response.recorded",
                             recipient=routing.Recipient("user", "gp-owner", "inbox"), message_code="employer_response",
                             facts={}, occurred_at=None)
    owner = token("gp", org=PRACTICE, sub="gp-owner")
    [item] = client.get("/inbox", headers=owner).get_json()["items"]
    for other in (token("gp", org=PRACTICE, sub="gp-colleague"), token("alliance_admin", sub="admin-1")):
        assert client.post(f"/inbox/{item['id']}/read", headers=other).status_code == 404
        assert client.post("/inbox/read", json={"scope": "user"}, headers=other).get_json() == {"marked": 0}
        for scope in ("user", "organisation", "alliance"):
            listed = client.get(f"/inbox?scope={scope}", headers=other)
            assert item["id"] not in [i["id"] for i in (listed.get_json() or {}).get("items", [])]
    assert client.get("/inbox/unread-counts", headers=owner).get_json()["user"] == 1


def test_routing_rules_are_reviewable_and_editable_by_alliance_admin_only(app, notifications_db, token):
    client = app.test_client()
    admin = token("alliance_admin", sub="admin-1")
    assert client.get("/routing-rules", headers=token("org_admin", org=ADVISERS)).status_code == 403
    rules = client.get("/routing-rules?event_type=referrals.referral.sla_breached", headers=admin).get_json()
    assert {(r["audience"], tuple(r["channels"])) for r in rules} == {
        ("assigned_org_lead", ("inbox", "email", "webhook")), ("alliance", ("inbox", "email"))}

    lead_rule = next(r for r in rules if r["audience"] == "assigned_org_lead")
    changed = client.patch(f"/routing-rules/{lead_rule['id']}", json={"channels": ["inbox"]}, headers=admin)
    assert changed.get_json()["channels"] == ["inbox"] and changed.get_json()["updated_by"] == "admin-1"
    assert client.post("/routing-rules", json={"event_type": "referrals.referral.sla_breached",
                                               "audience": "alliance", "channels": ["inbox"],
                                               "message_code": "x"}, headers=admin).status_code == 409
    added = client.post("/routing-rules", json={"event_type": "referrals.referral.received", "audience": "assigned_org",
                                                "channels": ["inbox"], "message_code": "referral_received"},
                        headers=admin)
    assert added.status_code == 201
    invalid = client.post("/routing-rules", json={"event_type": "Referral!", "audience": "everyone",
                                                  "channels": [], "message_code": "x"}, headers=admin)
    assert {e["pointer"] for e in invalid.get_json()["errors"]} == {"/event_type", "/audience", "/channels"}
    for nobody_publishes in ("referrals.referal.submitted", "127.0.0.1", "notifications.person_message.requested"):
        typo = client.post("/routing-rules", json={"event_type": nobody_publishes, "audience": "alliance",
                                                   "channels": ["inbox"], "message_code": "x"}, headers=admin)
        assert typo.status_code == 422 and [e["pointer"] for e in typo.get_json()["errors"]] == ["/event_type"]
        assert "No service publishes this event type" in typo.get_json()["errors"][0]["detail"]
    documented = app.test_client().get("/openapi.json").get_json()["components"]["schemas"]["RoutingRuleIn"]
    assert "referrals.referral.received" in documented["properties"]["event_type"]["enum"]

    event_id = route(notifications_db, "referrals.referral.received")
    with notifications_db.sessions() as session:
        got = set(session.execute(sa.select(Delivery.recipient_id).where(Delivery.event_id == event_id)).scalars())
    assert got == {PRACTICE, ADVISERS}  # the new rule takes effect without a deploy


def test_webhook_subscribers_secret_shown_once_rotation_and_scope(app, token):
    client = app.test_client()
    admin = token("org_admin", org=ADVISERS)
    created = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks",
                                                        "event_types": ["referrals.referral.submitted"]},
                          headers=admin)
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("whsec_") and body["organisation_id"] == ADVISERS
    shown = client.get(f"/webhook-subscribers/{body['id']}", headers=admin).get_json()
    assert "secret" not in shown and shown["event_types"] == ["referrals.referral.submitted"]

    rotated = client.post(f"/webhook-subscribers/{body['id']}/rotate-secret", json={"grace_hours": 2},
                          headers=admin).get_json()
    assert rotated["secret"] != body["secret"] and rotated["previous_secret_expires_at"]
    # Again within the grace period: the first secret would stop signing before the receiver switched.
    again = client.post(f"/webhook-subscribers/{body['id']}/rotate-secret", json={}, headers=admin)
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert again.get_json()["previous_secret_expires_at"][:19] == rotated["previous_secret_expires_at"][:19]
    leaked = client.post(f"/webhook-subscribers/{body['id']}/rotate-secret", json={"drop_previous": True},
                         headers=admin).get_json()
    assert leaked["secret"] not in (body["secret"], rotated["secret"])

    other = token("org_admin", org=PRACTICE)
    assert client.get(f"/webhook-subscribers/{body['id']}", headers=other).status_code == 404
    assert client.get("/webhook-subscribers", headers=other).get_json() == []
    assert client.post("/webhook-subscribers", json={"url": "https://crm.example/h", "organisation_id": ADVISERS},
                       headers=other).status_code == 403
    typo = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks",
                                                     "event_types": ["referrals.referral.submitted", "x.y"]},
                       headers=admin)
    assert typo.status_code == 422 and [e["pointer"] for e in typo.get_json()["errors"]] == ["/event_types/1"]
    typo = client.patch(f"/webhook-subscribers/{body['id']}", json={"event_types": ["referrals.referal.accepted"],
                                                                    "version": leaked["version"]}, headers=admin)
    assert typo.status_code == 422 and [e["pointer"] for e in typo.get_json()["errors"]] == ["/event_types/0"]
    bad = client.post("/webhook-subscribers", json={"url": "ftp://user:pw@x"}, headers=admin)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["pointer"] == "/url"
    off = client.patch(f"/webhook-subscribers/{body['id']}", json={"active": False, "version": leaked["version"]},
                       headers=admin)
    assert off.get_json()["active"] is False


def test_an_org_admin_whose_sign_in_names_no_organisation_lists_no_ones_webhooks(app, token):
    """Listing without an organisation is the alliance's view of every organisation's partner systems: an
    org_admin token with no org claim was given it (every URL, its events and its health). Such a token is
    refused at verification now (worklink.auth); the endpoint's own refusal stays as a second line."""
    client = app.test_client()
    client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                headers=token("org_admin", org=ADVISERS))
    refused = client.get("/webhook-subscribers", headers=token("org_admin"))
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert "must name the organisation they act for" in refused.get_json()["detail"]
    assert "crm.advisers.example" not in refused.get_data(as_text=True)
    assert [s["url"] for s in client.get("/webhook-subscribers", headers=token("alliance_admin")).get_json()] \
        == ["https://crm.advisers.example/hooks"]


def test_a_webhook_url_with_credentials_is_refused_on_registration_and_on_change(app, token):
    """A user:password in the URL would be shown back in every listing and on /admin: never stored."""
    client = app.test_client()
    admin = token("org_admin", org=ADVISERS)
    with_password = "https://crm:hunter2@crm.advisers.example/hooks"
    refused = client.post("/webhook-subscribers", json={"url": with_password}, headers=admin)
    assert refused.status_code == 422 and [e["pointer"] for e in refused.get_json()["errors"]] == ["/url"]
    created = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                          headers=admin).get_json()
    changed = client.patch(f"/webhook-subscribers/{created['id']}", json={"url": with_password, "version": 1},
                           headers=admin)
    assert changed.status_code == 422 and changed.mimetype == "application/problem+json"
    assert [e["pointer"] for e in changed.get_json()["errors"]] == ["/url"]
    listed = client.get("/webhook-subscribers", headers=admin).get_json()
    assert [s["url"] for s in listed] == ["https://crm.advisers.example/hooks"]


def test_a_webhook_url_with_a_port_no_connection_can_use_is_refused(app, token):
    """The URL field takes any digits after the colon: 99999 failed every try and 0 every connection."""
    client = app.test_client()
    admin = token("org_admin", org=ADVISERS)
    for url in ("https://crm.advisers.example:99999/hooks", "https://crm.advisers.example:0/hooks"):
        refused = client.post("/webhook-subscribers", json={"url": url}, headers=admin)
        assert refused.status_code == 422 and [e["pointer"] for e in refused.get_json()["errors"]] == ["/url"], url
    created = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example:8443/hooks"},
                          headers=admin)
    assert created.status_code == 201
    moved = client.patch(f"/webhook-subscribers/{created.get_json()['id']}",
                         json={"url": "https://crm.advisers.example:65536/hooks", "version": 1}, headers=admin)
    assert moved.status_code == 422 and [e["pointer"] for e in moved.get_json()["errors"]] == ["/url"]


def test_only_the_owning_organisations_admin_or_the_alliance_changes_a_subscriber_or_sees_its_secret(app, token):
    """Another organisation's admin meets a 404 (its partner systems are not theirs to know of) on every route
    naming the subscriber; staff who are not admins cannot list or register one."""
    client = app.test_client()
    owner = token("org_admin", org=ADVISERS)
    created = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                          headers=owner).get_json()
    path = f"/webhook-subscribers/{created['id']}"
    other = token("org_admin", org=PRACTICE)
    assert client.patch(path, json={"url": "https://attacker.example/hooks", "version": 1},
                        headers=other).status_code == 404
    assert client.patch(path, json={"active": False, "version": 1}, headers=other).status_code == 404
    rotated = client.post(f"{path}/rotate-secret", json={"drop_previous": True}, headers=other)
    assert rotated.status_code == 404 and "secret" not in rotated.get_json()
    for staff in (token("adviser", org=ADVISERS), token("gp", org=ADVISERS)):
        assert client.get("/webhook-subscribers", headers=staff).status_code == 403
        assert client.get(path, headers=staff).status_code == 403
        registered = client.post("/webhook-subscribers", json={"url": "https://x.example/h"}, headers=staff)
        assert registered.status_code == 403
    assert client.get(path, headers=owner).get_json()["url"] == "https://crm.advisers.example/hooks"
    assert client.patch(path, json={"active": False, "version": 1},
                        headers=token("alliance_admin")).get_json()["active"] is False


def test_a_residents_delivery_is_masked_and_its_viewing_audited(app, notifications_db, token):
    person = uuid.uuid4()
    event = SimpleNamespace(id="e", type="notifications.person_message.requested", data={
        "message_id": uuid.uuid4(), "person_id": person, "consent_id": uuid.uuid4(),
        "message_code": "referral_closed", "contact": {"channel": "email", "address": "sam@example.org"},
        "referral_id": None, "requested_at": datetime.now(timezone.utc)})
    with notifications_db.transaction() as session:
        routing.request_person_message(session, event)
    client = app.test_client()
    listed = client.get("/deliveries?channel=email", headers=token("alliance_admin", sub="admin-9")).get_json()
    assert [d["address"] for d in listed["items"]] == ["s***@example.org"]
    delivery = listed["items"][0]["id"]
    staff, gp = token("org_admin", org=ADVISERS, sub="staff-3"), token("gp", org=PRACTICE, sub="gp-1")
    assert client.get(f"/deliveries/{delivery}", headers=staff).status_code == 403
    assert client.post(f"/deliveries/{delivery}/resend", headers=gp).status_code == 403
    assert client.get(f"/deliveries/{delivery}", headers=token("alliance_admin", sub="admin-9")).status_code == 200
    tables = app.extensions["worklink"].tables
    with notifications_db.sessions() as session:
        audit = session.execute(sa.select(tables.audit_log.c.actor, tables.audit_log.c.person_id,
                                          tables.audit_log.c.action, tables.audit_log.c.resource_id)
                                .where(tables.audit_log.c.resource_type == "person_message")
                                .order_by(tables.audit_log.c.id)).all()
    # One record type for everything about the delivery: the refused attempts are audited as such, under the
    # type its reads use, without the person it would have shown.
    assert audit == [("admin-9", str(person), "list", delivery), ("staff-3", None, "denied", delivery),
                     ("gp-1", None, "denied", delivery), ("admin-9", str(person), "read", delivery)]


def test_in_production_webhooks_need_https(notifications_db, kafka_broker, tmp_path):
    import dataclasses

    from worklink.auth import mint_token
    from worklink.config import KafkaSettings, Settings
    from tests.services.notifications.support import SPEC

    base = Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path)})
    settings = dataclasses.replace(base, env="production", database_url=notifications_db.url,
                                   kafka=KafkaSettings(kafka_broker.bootstrap_servers),
                                   jwt=dataclasses.replace(base.jwt, secret="p" * 40))
    client = SPEC.create_app(settings=settings).test_client()
    admin = {"Authorization": "Bearer " + mint_token(settings.jwt, role="org_admin", org=ADVISERS)}
    plain = client.post("/webhook-subscribers", json={"url": "http://crm.advisers.example/hooks"}, headers=admin)
    assert plain.status_code == 422 and plain.get_json()["errors"][0]["pointer"] == "/url"
    assert client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                       headers=admin).status_code == 201


def _production_client(notifications_db, kafka_broker, tmp_path):
    import dataclasses

    from worklink.auth import mint_token
    from worklink.config import KafkaSettings, Settings
    from tests.services.notifications.support import SPEC

    base = Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path)})
    settings = dataclasses.replace(base, env="production", database_url=notifications_db.url,
                                   kafka=KafkaSettings(kafka_broker.bootstrap_servers),
                                   jwt=dataclasses.replace(base.jwt, secret="p" * 40))
    admin = {"Authorization": "Bearer " + mint_token(settings.jwt, role="org_admin", org=ADVISERS)}
    return SPEC.create_app(settings=settings).test_client(), admin


def test_in_production_webhooks_never_target_loopback_private_or_metadata_addresses(notifications_db, kafka_broker,
                                                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE", "1")  # production ignores it
    client, admin = _production_client(notifications_db, kafka_broker, tmp_path)
    for url in ("https://169.254.169.254/latest/meta-data/", "https://127.0.0.1/hooks", "https://[::1]/hooks",
                "https://10.1.2.3/hooks", "https://192.168.0.9/hooks", "https://localhost/hooks",
                "https://2130706433/hooks", "https://[::ffff:127.0.0.1]/hooks", "https://metadata.google.internal/",
                "https://[64:ff9b::a9fe:a9fe]/hooks", "https://[2002:7f00:1::]/hooks", "https://[::127.0.0.1]/hooks",
                "https://１２７.０.０.１/hooks"):
        refused = client.post("/webhook-subscribers", json={"url": url}, headers=admin)
        assert refused.status_code == 422, url
        assert refused.mimetype == "application/problem+json"
        assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/url"]
    created = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"}, headers=admin)
    assert created.status_code == 201
    moved = client.patch(f"/webhook-subscribers/{created.get_json()['id']}",
                         json={"url": "https://127.0.0.1/x", "version": 1}, headers=admin)
    assert moved.status_code == 422 and moved.get_json()["errors"][0]["pointer"] == "/url"


def test_paging_past_the_deepest_offset_is_a_422_naming_it_not_a_500(app, token):
    client = app.test_client()
    for path, who in (("/inbox", token("adviser", org=ADVISERS)), ("/deliveries", token("alliance_admin"))):
        for offset in ("100001", "9223372036854775808", "10245930495004716826624"):
            response = client.get(f"{path}?offset={offset}", headers=who)
            assert response.status_code == 422 and response.mimetype == "application/problem+json", path
            assert [e["pointer"] for e in response.get_json()["errors"]] == ["/offset"]
        assert client.get(f"{path}?offset=100000", headers=who).get_json()["items"] == []


def test_a_put_or_patch_with_no_body_at_all_changes_nothing(app, token):
    """A PUT or PATCH says what the resource becomes: with no body it read as every field at its default, and
    PUT /me/channels turned the user's email off. It is a 422 problem now (worklink.web.app); {} is still a body."""
    client = app.test_client()
    me = token("gp", org=PRACTICE, sub="gp-8")
    settings = {"email": "gp8@practice.example", "email_enabled": True, "frequency": "daily"}
    assert client.put("/me/channels", json=settings, headers=me).status_code == 200
    for sent in ({}, {"content_type": "application/json"}):
        refused = client.put("/me/channels", headers=me, **sent)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
        assert refused.get_json()["errors"] == [{"location": "json", "pointer": "", "detail": "The request has no body."}]
    assert client.get("/me/channels", headers=me).get_json()["email_enabled"] is True
    rule = client.get("/routing-rules", headers=token("alliance_admin")).get_json()[0]["id"]
    assert client.patch(f"/routing-rules/{rule}", headers=token("alliance_admin")).status_code == 422
    assert client.patch(f"/routing-rules/{rule}", json={}, headers=token("alliance_admin")).status_code == 200


def test_a_post_body_is_documented_as_required_exactly_when_leaving_it_out_is_refused(app, token):
    """POST /inbox/read's fields all have defaults, so no body marks everything read: the document said the body
    was required (a client generated from it had to send {}). POST /webhook-subscribers needs a url: no body is
    its 422, and the document says so. (worklink.web.blueprint derives `required` from the schema.)"""
    client = app.test_client()
    paths = client.get("/openapi.json").get_json()["paths"]
    me, admin = token("adviser", org=ADVISERS, sub="adv-1"), token("alliance_admin")
    assert paths["/inbox/read"]["post"]["requestBody"]["required"] is False
    assert client.post("/inbox/read", headers=me).status_code == 200
    assert paths["/webhook-subscribers"]["post"]["requestBody"]["required"] is True
    refused = client.post("/webhook-subscribers", headers=admin)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/url"]
    assert paths["/me/channels"]["put"]["requestBody"]["required"] is True  # a PUT's body: always


def test_a_json_body_is_held_to_its_json_types(app, token):
    """marshmallow reads 0, "no" or "false" as a boolean and "2" as an integer: PUT /me/channels took
    {"email_enabled": 0} and turned email off (schemathesis). A JSON body's booleans and numbers must be JSON
    booleans and numbers; the 422 names each, beside the schema's own errors."""
    client = app.test_client()
    me = token("gp", org=PRACTICE, sub="gp-9")
    settings = {"email": "gp9@practice.example", "email_enabled": True, "frequency": "daily"}
    assert client.put("/me/channels", json=settings, headers=me).status_code == 200
    for wrong in (0, "false", "no"):
        refused = client.put("/me/channels", json={**settings, "email_enabled": wrong}, headers=me)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json", wrong
        assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/email_enabled"]
    both = client.put("/me/channels", json={**settings, "email_enabled": 1, "frequency": "hourly"}, headers=me)
    assert sorted(e["pointer"] for e in both.get_json()["errors"]) == ["/email_enabled", "/frequency"]
    assert client.get("/me/channels", headers=me).get_json()["email_enabled"] is True
    rule = client.get("/routing-rules", headers=token("alliance_admin")).get_json()[0]
    quoted = client.patch(f"/routing-rules/{rule['id']}", json={"enabled": "true"}, headers=token("alliance_admin"))
    assert quoted.status_code == 422 and quoted.get_json()["errors"][0]["pointer"] == "/enabled"
    page = client.get("/inbox?limit=2", headers=me)  # a query string is text: "2" is its number, as before
    assert page.status_code == 200
