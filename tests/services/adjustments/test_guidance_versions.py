"""Guidance versions: every edit of the library is one new version, also when two admins edit at once."""

from __future__ import annotations

import sqlalchemy as sa

from worklink_adjustments.models import GuidanceVersion
from tests.services.adjustments.conftest import LIBRARY_VERSION, Tokens, build_app, make_settings
from tests.services.adjustments.test_employer_api_and_rounds import _both_at_once


def test_two_admins_editing_at_once_make_two_versions_on_postgresql(tmp_path, postgres_url):
    """Both read the newest version and wrote the next one: the second edit failed on the version's key (a 500)
    and was lost. The second now waits for the first and takes the version after it."""
    settings = make_settings(tmp_path, postgres_url)
    app = build_app(settings)
    admin = Tokens(settings).header(role="alliance_admin", org=None, subject="admin-a")
    other = Tokens(settings).header(role="alliance_admin", org=None, subject="admin-b")
    try:
        codes = _both_at_once(app, ("patch", "/guidance/rules/1", {"revision": 1, "priority": 3}, admin),
                              ("patch", "/guidance/rules/2", {"revision": 1, "priority": 3}, other),
                              gate_table="guidance_versions")
        assert codes == (200, 200)
        with app.extensions["worklink"].database.transaction() as session:
            made = session.execute(sa.select(GuidanceVersion.version, GuidanceVersion.published_by)
                                   .where(GuidanceVersion.version > LIBRARY_VERSION)
                                   .order_by(GuidanceVersion.version)).all()
        assert [tuple(row) for row in made] == [(LIBRARY_VERSION + 1, "admin-a"), (LIBRARY_VERSION + 2, "admin-b")]
    finally:
        app.extensions["worklink"].database.dispose()
