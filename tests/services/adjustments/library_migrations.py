"""Helpers for the tests of the guidance library's data migrations (0007 and 0008 rename ids that named a
health need, 0009 rewords text that did): today's app on a database at the revision just before one, and the
library's state and the outbox's events to compare across it."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, Iterator

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from tests.services.adjustments.conftest import Tokens, add_later_columns, make_settings
from tests.services.adjustments.test_employer_api_and_rounds import letter_token
from worklink.migrations import alembic_config, upgrade
from worklink.service import ServiceSpec, get_service
from worklink_adjustments.models import PLATFORM, Adjustment, GuidanceRule, GuidanceVersion

# What a renamed adjustment keeps under its new id.
COPIED = ("title", "employer_text", "fit_note_category", "equality_act_requirement", "adjustment_area", "cost_band",
          "access_to_work", "access_to_work_element", "duration_type", "home_working_compatible", "review_status")


@dataclass
class Before:
    """Today's app on a database at `before`, the revision before the data migration `revision`."""

    spec: ServiceSpec
    settings: Any
    revision: str
    before: str
    app: Any
    client: Any
    tokens: Tokens

    @property
    def engine(self) -> sa.Engine:
        return self.app.extensions["worklink"].database.engine

    def migrate(self) -> None:
        upgrade(self.spec.migrations_dir, self.settings.database_url, self.revision)

    def roll_back(self) -> None:
        command.downgrade(alembic_config(self.spec.migrations_dir, self.settings.database_url), self.before)


@contextlib.contextmanager
def app_before(tmp_path, database_url: str, revision: str) -> Iterator[Before]:
    spec = get_service("adjustments")
    before = ScriptDirectory(str(spec.migrations_dir)).get_revision(revision).down_revision
    settings = make_settings(tmp_path, database_url)
    upgrade(spec.migrations_dir, settings.database_url, before)
    add_later_columns(settings.database_url)  # today's code on the older revision
    app = spec.create_app(settings=settings)  # a data migration changes no schema: the app runs on either side
    try:
        yield Before(spec, settings, revision, before, app, app.test_client(), Tokens(settings))
    finally:
        app.extensions["worklink"].database.dispose()


def events(engine, event_type: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(PLATFORM.outbox.c.payload).where(PLATFORM.outbox.c.type == event_type)
                            .order_by(PLATFORM.outbox.c.position)).scalars().all()
    return [json.loads(r)["data"] for r in rows]


def library_state(engine) -> dict:
    with engine.connect() as conn:
        adjustments = {r.id: r for r in conn.execute(sa.select(Adjustment.__table__))}
        rules = dict(conn.execute(sa.select(GuidanceRule.adjustment_id, sa.func.count())
                                  .group_by(GuidanceRule.adjustment_id)).all())
        versions = conn.execute(sa.select(GuidanceVersion.version, GuidanceVersion.change)
                                .order_by(GuidanceVersion.version)).all()
    return {"adjustments": adjustments, "rules": rules, "versions": versions}


def assert_renamed(old: dict, new: dict, renamed: dict[str, str]) -> None:
    """A new guidance version; each old id retired, its content and rules moved to the new id."""
    assert [v.version for v in new["versions"]] == [v.version for v in old["versions"]] + [
        old["versions"][-1].version + 1]
    for was, now in renamed.items():
        assert new["adjustments"][was].review_status == "retired"
        assert {k: getattr(new["adjustments"][now], k) for k in COPIED} == {
            k: getattr(old["adjustments"][was], k) for k in COPIED}
        assert new["rules"].get(now) == old["rules"].get(was) and was not in new["rules"]


def assert_renamed_back_and_again(library: Before, old: dict, new: dict, renamed: dict[str, str]) -> set[str]:
    """Downgrade: the old ids are back as they were; upgrade again: as after the first upgrade. Returns the
    ids retired then."""
    library.roll_back()
    back = library_state(library.engine)
    assert back["versions"] == old["versions"] and back["rules"] == old["rules"]
    assert not set(renamed.values()) & set(back["adjustments"])
    assert all(back["adjustments"][was].review_status == "published" for was in renamed)
    library.migrate()
    again = library_state(library.engine)
    assert again["rules"] == new["rules"] and len(again["versions"]) == len(new["versions"])
    return {a.id for a in again["adjustments"].values() if a.review_status == "retired"}


def assert_answer_and_amendment_name(library: Before, sid: str, body: dict, ids: list[str], guidance_version: int):
    """The employer answers the letter written before the rename, then the GP amends with the ids the
    suggestion was read with: the answer's event, the amendment and its event name the new `ids`."""
    client, tokens, engine = library.client, library.tokens, library.engine
    token = letter_token(client, tokens, sid)
    answer = {"responder_name": "Pat Manager", "items": [{"index": i, "outcome": "agreed"} for i in range(len(ids))]}
    assert client.post(f"/employer-links/{token}/response", json=answer).status_code == 201
    [response] = events(engine, "adjustments.employer_response.recorded")
    assert [i["adjustment_id"] for i in response["items"]] == ids
    amended = client.post(f"/suggestions/{sid}/amend", headers=tokens.header(), json={**body, "version": 2})
    assert amended.status_code == 200, amended.get_json()
    assert [r["adjustment_id"] for r in amended.get_json()["recommendations"]] == ids
    assert amended.get_json()["guidance_version"] == guidance_version
    [event] = events(engine, "adjustments.suggestion.amended")
    assert event["adjustment_ids"] == ids
