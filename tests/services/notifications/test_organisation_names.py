"""The alliance's page of where organisations are told names them: each organisation's name is kept as its own staff's
tokens carry it (`org_name`) when they read their inbox or their where-told page (worklink.organisation_names), and
the chooser and the organisation's page say it beside the id. They listed bare ids."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.browser import sealed
from tests.services.notifications.test_pages import ADVISERS, PRACTICE, database_url  # noqa: F401 - SQLite
from tests.services.notifications.test_where_told_page import contact
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications.models import OrganisationName

pytestmark = pytest.mark.timeout(120)


def signed_in(app, role: str, org: str | None = None, **claims):
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, sealed(app, mint_token(app.extensions["worklink"].settings.jwt, role=role,
                                                             org=org, subject=f"{role}-1", **claims)))
    return client


def names(database) -> dict[str, str]:
    with database.sessions() as session:
        return dict(session.execute(sa.select(OrganisationName.org_id, OrganisationName.name)).all())


def test_the_alliance_reads_organisations_by_the_names_their_staff_sign_in_with(app, notifications_db):
    contact(notifications_db, ADVISERS)
    contact(notifications_db, PRACTICE, "gp-team@practice.example")
    alliance = signed_in(app, "alliance_admin")
    before = alliance.get("/where-told").get_data(as_text=True)
    assert f">{ADVISERS}</a>" in before  # nobody of it signed in yet: its id alone

    assert signed_in(app, "adviser", ADVISERS, org_name="Working Well").get("/messages").status_code == 200
    assert names(notifications_db) == {ADVISERS: "Working Well"}
    chooser = alliance.get("/where-told").get_data(as_text=True)
    listed = [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in re.findall(r"<li>(.*?)</li>", chooser)]
    assert listed[:2] == [f"Working Well ({ADVISERS})", PRACTICE]  # named first
    page = alliance.get(f"/where-told/{ADVISERS}").get_data(as_text=True)
    assert "<h1>Where Working Well is told</h1>" in page and f"Organisation {ADVISERS}" in page

    assert signed_in(app, "org_admin", ADVISERS, org_name="Working Well Partnership").get(
        f"/where-told/{ADVISERS}").status_code == 200  # renamed at the identity provider: the latest name wins
    assert names(notifications_db) == {ADVISERS: "Working Well Partnership"}
    signed_in(app, "adviser", ADVISERS).get("/messages")  # a token without org_name leaves the name known
    assert names(notifications_db) == {ADVISERS: "Working Well Partnership"}


def test_an_unchanged_name_is_read_not_written_again(app, notifications_db):
    staff = signed_in(app, "adviser", ADVISERS, org_name="Working Well")
    staff.get("/messages")
    with notifications_db.sessions() as session:
        first = session.scalar(sa.select(OrganisationName.seen_at))
    staff.get("/messages")
    with notifications_db.sessions() as session:
        assert session.scalar(sa.select(OrganisationName.seen_at)) == first
