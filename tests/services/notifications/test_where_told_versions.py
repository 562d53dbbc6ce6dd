"""Optimistic locking of an organisation's contacts and webhooks (where_told_lock.check_version), on SQLite and
PostgreSQL: two administrators changing one at once, the later save silently undid the earlier one, and a rotation
sent twice rotated twice - with drop_previous the second stopped the secret the receiver still used. A change names
the version it was made from (required on PUT and PATCH, as referrals' `version`; optional on a rotation): a stale
one is a 409 problem+json naming /version and changes nothing. The pages: test_where_told_page."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from worklink.auth import Principal
from worklink_notifications import subscribers, webhook_secrets
from worklink_notifications.models import WebhookSubscriber
from worklink_notifications.where_told_lock import ChangedMeanwhile

pytestmark = pytest.mark.timeout(120)

ADVISERS = str(uuid.uuid4())


def stale(response, current: int) -> None:
    assert response.status_code == 409 and response.mimetype == "application/problem+json", response.get_json()
    problem = response.get_json()
    assert problem["current_version"] == current and "changed since you read it" in problem["detail"]
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("json", "/version")]


def test_a_contact_changed_from_an_older_version_is_refused_and_kept_as_the_other_saved_it(app, token):
    client, ada, bob = app.test_client(), token("org_admin", ADVISERS, "ada"), token("org_admin", ADVISERS, "bob")
    path = f"/organisations/{ADVISERS}/contacts"
    created = client.post(path, json={"email": "team@advisers.example"}, headers=ada).get_json()
    assert created["version"] == 1
    read_by_both = client.get(path, headers=bob).get_json()[0]["version"]
    bobs = client.put(f"{path}/{created['id']}", json={"email": "bob@advisers.example", "version": read_by_both},
                      headers=bob)
    assert bobs.status_code == 200 and bobs.get_json()["version"] == 2
    adas = client.put(f"{path}/{created['id']}", json={"email": "ada@advisers.example", "frequency": "daily",
                                                       "version": read_by_both}, headers=ada)
    stale(adas, 2)
    [kept] = client.get(path, headers=ada).get_json()
    assert (kept["email"], kept["frequency"], kept["version"]) == ("bob@advisers.example", "immediate", 2)
    unversioned = client.put(f"{path}/{created['id']}", json={"email": "ada@advisers.example"}, headers=ada)
    assert unversioned.status_code == 422 and [e["pointer"] for e in unversioned.get_json()["errors"]] == ["/version"]
    again = client.put(f"{path}/{created['id']}", json={"email": "ada@advisers.example", "version": 2}, headers=ada)
    assert again.status_code == 200 and again.get_json()["version"] == 3


def test_a_webhook_changed_from_an_older_version_or_before_a_rotation_is_refused(app, token):
    client, admin = app.test_client(), token("org_admin", ADVISERS, "ada")
    hook = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                       headers=admin).get_json()
    path = f"/webhook-subscribers/{hook['id']}"
    assert client.patch(path, json={"event_types": ["referrals.referral.accepted"], "version": 1},
                        headers=admin).get_json()["version"] == 2
    stale(client.patch(path, json={"url": "https://crm.advisers.example/v2", "version": 1}, headers=admin), 2)
    rotated = client.post(f"{path}/rotate-secret", json={"version": 2}, headers=admin)
    assert rotated.status_code == 200 and rotated.get_json()["version"] == 3
    stale(client.patch(path, json={"active": False, "version": 2}, headers=admin), 3)
    shown = client.get(path, headers=admin).get_json()
    assert (shown["url"], shown["event_types"], shown["active"], shown["version"]) == (
        "https://crm.advisers.example/hooks", ["referrals.referral.accepted"], True, 3)
    unversioned = client.patch(path, json={"active": False}, headers=admin)
    assert unversioned.status_code == 422 and [e["pointer"] for e in unversioned.get_json()["errors"]] == ["/version"]


def test_a_rotation_sent_twice_rotates_once_and_the_receivers_secret_keeps_signing(app, notifications_db, token):
    client, admin = app.test_client(), token("org_admin", ADVISERS, "ada")
    hook = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                       headers=admin).get_json()
    path = f"/webhook-subscribers/{hook['id']}/rotate-secret"
    first = client.post(path, json={"version": 1}, headers=admin).get_json()  # the receiver moves to this one
    # Within the grace period, after a leak: rotate dropping the first secret - and the request goes twice.
    leaked = {"drop_previous": True, "version": first["version"]}
    once = client.post(path, json=leaked, headers=admin)
    twice = client.post(path, json=leaked, headers=admin)
    assert once.status_code == 200
    stale(twice, once.get_json()["version"])
    with notifications_db.sessions() as session:
        signing = webhook_secrets.signing_secrets(session.get(WebhookSubscriber, uuid.UUID(hook["id"])),
                                                  app.config["WEBHOOK_SECRET_SEAL"], datetime.now(timezone.utc))
    assert signing == [once.get_json()["secret"], first["secret"]]  # the one the receiver uses still signs

    refused = client.post(path, json={}, headers=admin)  # inside the grace period, no drop_previous: says when
    assert refused.status_code == 409 and refused.get_json()["previous_secret_expires_at"]
    [error] = refused.get_json()["errors"]
    assert error["pointer"] == "/drop_previous" and "rotate again after that" in error["detail"]
    assert refused.get_json()["previous_secret_expires_at"][:19] in error["detail"]


def test_two_rotations_at_once_cannot_both_pass_the_grace_period_check(app, notifications_db, database_url):
    """On PostgreSQL a request read the subscriber before another's rotation was committed, then rotated from what
    it had read: the secret the other had just made (and shown) was silently dropped. Now it takes its turn and
    reads the row again, so it sees the other's rotation. (SQLite has one writer: the second cannot begin.)"""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers")
    client = app.test_client()
    hook = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks",
                                                     "organisation_id": ADVISERS},
                       headers={"Authorization": "Bearer " + _alliance(app)}).get_json()
    seal, audit = app.config["WEBHOOK_SECRET_SEAL"], app.extensions["worklink"].audit
    principal = Principal(subject="ada", role="org_admin", organisation=ADVISERS)
    with notifications_db.transaction() as first:
        read_first = subscribers.visible(first, principal, uuid.UUID(hook["id"]))
        assert read_first.previous_secret_expires_at is None  # read before the other's rotation
        with notifications_db.transaction() as other:
            subscribers.rotate(other, audit, principal, seal, subscribers.visible(other, principal,
                                                                                  uuid.UUID(hook["id"])), 24, False)
        with pytest.raises(subscribers.StillSigning):
            subscribers.rotate(first, audit, principal, seal, read_first, 24, False)
        with pytest.raises(ChangedMeanwhile):
            subscribers.rotate(first, audit, principal, seal, read_first, 24, True, read_version=1)


def _alliance(app) -> str:
    from worklink.auth import mint_token
    return mint_token(app.extensions["worklink"].settings.jwt, role="alliance_admin", subject="alex")


def test_a_newest_secret_not_copied_is_replaced_and_the_old_one_signs_on_until_it_was_due_to_stop(app, token,
                                                                                                  notifications_db):
    client, admin = app.test_client(), token("org_admin", ADVISERS, "ada")
    hook = client.post("/webhook-subscribers", json={"url": "https://crm.advisers.example/hooks"},
                       headers=admin).get_json()
    path = f"/webhook-subscribers/{hook['id']}/rotate-secret"
    lost = client.post(path, json={}, headers=admin).get_json()  # its answer lost: the receiver keeps the first
    both = client.post(path, json={"keep_previous": True, "drop_previous": True}, headers=admin)
    assert both.status_code == 422 and [e["pointer"] for e in both.get_json()["errors"]] == ["/keep_previous"]
    replaced = client.post(path, json={"keep_previous": True, "version": lost["version"]}, headers=admin)
    assert replaced.status_code == 200
    assert replaced.get_json()["previous_secret_expires_at"] == lost["previous_secret_expires_at"]
    with notifications_db.sessions() as session:
        signing = webhook_secrets.signing_secrets(session.get(WebhookSubscriber, uuid.UUID(hook["id"])),
                                                  app.config["WEBHOOK_SECRET_SEAL"], datetime.now(timezone.utc))
    assert signing == [replaced.get_json()["secret"], hook["secret"]]  # the lost one signs nothing
