"""A member's team e-mail follows the organisation they last signed in with (membership.py), not the one they
belonged to when they last saved their channel settings: real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from worklink.auth import mint_token
from worklink_notifications import routing
from worklink_notifications.models import PLATFORM, Delivery, UserChannelSettings
from tests.browser import sealed
from tests.services.notifications.support import make_worker

pytestmark = pytest.mark.timeout(120)

OLD, NEW = str(uuid.uuid4()), str(uuid.uuid4())


def accepted_for(database, referrer_org: str) -> str:
    """A referral the organisation's team hears of by e-mail; returns the event id."""
    event = SimpleNamespace(id=str(uuid.uuid4()), type="referrals.referral.accepted", data={
        "referral_id": uuid.uuid4(), "status": "accepted", "referrer_org_id": uuid.UUID(referrer_org),
        "occurred_at": datetime.now(timezone.utc)})
    with database.transaction() as session:
        routing.route_event(session, event)
    return event.id


def mailed_to_mover(database) -> set[str]:
    with database.sessions() as session:
        return set(session.scalars(sa.select(Delivery.event_id).where(
            Delivery.channel == "email", Delivery.recipient_kind == "user", Delivery.recipient_id == "gp-mover")))


def moves(database) -> list:
    audit = PLATFORM.audit_log
    with database.sessions() as session:
        return session.execute(sa.select(audit.c.actor, audit.c.actor_org, audit.c.action, audit.c.purpose)
                               .where(audit.c.resource_type == "user_channel_settings",
                                      audit.c.purpose.like("team e-mail follows%"))  # not a save's own entry
                               .order_by(audit.c.id)).all()


def test_a_member_seen_under_another_organisation_no_longer_gets_the_old_ones_team_mail(
        app, token, notifications_db, smtp_server, clock):
    client = app.test_client()
    saved = client.put("/me/channels", headers=token("gp", org=OLD, sub="gp-mover"),
                       json={"email": "mover@gp.example", "email_enabled": True})
    assert saved.status_code == 200 and saved.get_json()["organisation_id"] == OLD
    worker = make_worker(notifications_db, smtp_server, clock)
    before_the_move = accepted_for(notifications_db, OLD)
    worker.run_once()
    assert mailed_to_mover(notifications_db) == {before_the_move}

    # She now works for NEW: any request signed in with its token moves her team mail, without a settings save.
    assert client.get("/inbox/unread-counts", headers=token("gp", org=NEW, sub="gp-mover")).status_code == 200
    assert client.get("/inbox/unread-counts", headers=token("gp", org=NEW, sub="gp-mover")).status_code == 200
    accepted_for(notifications_db, OLD)
    after_the_move = accepted_for(notifications_db, NEW)
    worker.run_once()
    assert mailed_to_mover(notifications_db) == {before_the_move, after_the_move}
    assert len(smtp_server.to("mover@gp.example")) == 2
    with notifications_db.sessions() as session:
        assert session.get(UserChannelSettings, "gp-mover").organisation_id == NEW
    assert moves(notifications_db) == [("gp-mover", NEW, "update",
                                        f"team e-mail follows the organisation signed in with (was {OLD})")]

    # A page signed in with an OLD token (she went back) moves it back the same way; a token that fails
    # changes nothing and is refused as before.
    old_token = mint_token(app.extensions["worklink"].settings.jwt, role="gp", org=OLD, subject="gp-mover")
    client.set_cookie("worklink_session", sealed(app, old_token))
    assert client.get("/messages", headers={"Accept": "text/html"}).status_code == 200
    refused = client.get("/inbox/unread-counts", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert [move.actor_org for move in moves(notifications_db)] == [NEW, OLD]
    assert client.get("/me/channels", headers=token("gp", org=OLD, sub="gp-mover")).get_json()["organisation_id"] \
        == OLD


def test_a_user_who_never_saved_settings_gets_none_by_signing_in(app, token, notifications_db):
    """Only a stored organisation follows: signing in creates no settings (no e-mail was ever asked for)."""
    assert app.test_client().get("/inbox/unread-counts", headers=token("gp", org=NEW, sub="gp-new")).status_code \
        == 200
    with notifications_db.sessions() as session:
        assert session.get(UserChannelSettings, "gp-new") is None
    assert moves(notifications_db) == []


def test_old_team_mail_still_queued_when_a_member_moves_is_not_sent(app, token, notifications_db, smtp_server,
                                                                    clock):
    """Routed while she still belonged to OLD, sent after she signed in with NEW: an e-mail waiting for a retry
    or for the daily digest would have told her OLD's news after she left. It is cancelled; NEW's goes."""
    client = app.test_client()
    for user, frequency in (("gp-mover", "immediate"), ("gp-daily", "daily")):
        assert client.put("/me/channels", headers=token("gp", org=OLD, sub=user), json={
            "email": f"{user}@gp.example", "email_enabled": True, "frequency": frequency}).status_code == 200
    accepted_for(notifications_db, OLD)
    for user in ("gp-mover", "gp-daily"):
        assert client.get("/inbox/unread-counts", headers=token("gp", org=NEW, sub=user)).status_code == 200
    after_the_move = accepted_for(notifications_db, NEW)

    worker = make_worker(notifications_db, smtp_server, clock)
    worker.run_once()
    clock.now = clock.now.replace(hour=17, minute=5)
    assert worker.run_digests() == 1
    assert len(smtp_server.to("gp-mover@gp.example")) == 1
    [digest] = smtp_server.to("gp-daily@gp.example")
    assert digest["Subject"].endswith("(1)")  # NEW's item alone
    with notifications_db.sessions() as session:
        sent = session.execute(sa.select(Delivery.recipient_id, Delivery.event_id, Delivery.status).where(
            Delivery.channel == "email")).all()
    assert sorted((user, event == after_the_move, status) for user, event, status in sent) == [
        ("gp-daily", False, "cancelled"), ("gp-daily", True, "sent"),
        ("gp-mover", False, "cancelled"), ("gp-mover", True, "sent")]
