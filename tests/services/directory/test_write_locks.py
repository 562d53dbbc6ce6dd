"""Writes lock the listing they change; on PostgreSQL that lock must not touch the joined organisation
(FOR UPDATE cannot apply to an outer join's nullable side), so every write runs on both databases here."""

from __future__ import annotations

from tests.services.directory.conftest import ORG_A, build_directory, listed_long_ago, make_app, token_for
from worklink_directory import services


def test_api_writes_and_the_review_job_work_on_both_databases(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
    debt, cafe = known.ids["debt"], known.ids["cafe"]
    patched = client.patch(f"/manage/services/{debt}", json={"name": "Debt advice, Bridgwater"}, headers=owner)
    assert patched.status_code == 200, patched.get_json()
    assert client.post(f"/manage/services/{cafe}/assure", json={}, headers=owner).status_code == 200
    assert client.post(f"/manage/services/{debt}/withdraw", json={"reason": "closed"}, headers=owner).status_code == 200
    ctx = app.extensions["worklink"]
    listed_long_ago(app)
    with ctx.database.transaction() as session:
        assert services.flag_review_due(session, ctx.outbox) == 4  # all but the assured cafe and the withdrawn one
    assert client.get(f"/services/{debt}").get_json()["status"] == "defunct"
