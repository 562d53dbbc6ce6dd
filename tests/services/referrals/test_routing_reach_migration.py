"""referrals_0004 moved the routing read model's service areas and taxonomy terms out of JSON columns into
child tables; its downgrade puts them back, so routing after a downgrade still sends referrals where it did."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command

from worklink.migrations import alembic_config, upgrade
from worklink.service import get_service

MIGRATIONS = get_service("referrals").migrations_dir
TERM_A, TERM_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)
# As the code before 0004 kept them: areas None = no area stated (serves anyone); [] = stated, none served.
BEFORE = {
    uuid.UUID(int=1): {"areas": ["GL1", "TA1"], "taxonomy_term_ids": [str(TERM_A), str(TERM_B)]},
    uuid.UUID(int=2): {"areas": None, "taxonomy_term_ids": [str(TERM_B)]},
    uuid.UUID(int=3): {"areas": [], "taxonomy_term_ids": []},
}
OLD_SERVICES = sa.table("routing_services", sa.column("service_id", sa.Uuid()), sa.column("organization_id", sa.Uuid()),
                        sa.column("areas", sa.JSON()), sa.column("taxonomy_term_ids", sa.JSON()),
                        sa.column("active", sa.Boolean()), sa.column("accepting_referrals", sa.Boolean()),
                        sa.column("changed_at", sa.DateTime(timezone=True)))


def _stored(engine) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(OLD_SERVICES.c.service_id, OLD_SERVICES.c.areas,
                                      OLD_SERVICES.c.taxonomy_term_ids)).all()
    return {service_id: {"areas": areas, "taxonomy_term_ids": terms} for service_id, areas, terms in rows}


def test_the_downgrade_puts_areas_and_terms_back_as_they_were(database_url):
    """Was: the downgrade added the JSON columns empty (no areas: every service served anyone; no terms), so a
    rolled-back release routed by caseload alone, to services outside the person's area."""
    upgrade(MIGRATIONS, database_url, "referrals_0003")
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(OLD_SERVICES.insert(), [
                {"service_id": service_id, "organization_id": uuid.UUID(int=99), "active": True,
                 "accepting_referrals": True, "changed_at": datetime(2026, 11, 20, tzinfo=timezone.utc), **reach}
                for service_id, reach in BEFORE.items()])
        upgrade(MIGRATIONS, database_url, "referrals_0004")
        with engine.connect() as conn:  # the upgrade carried them over
            assert conn.execute(sa.text("SELECT count(*) FROM routing_service_areas")).scalar() == 2
            assert conn.execute(sa.text("SELECT count(*) FROM routing_service_terms")).scalar() == 3

        command.downgrade(alembic_config(MIGRATIONS, database_url), "referrals_0003")

        assert _stored(engine) == BEFORE
    finally:
        engine.dispose()
