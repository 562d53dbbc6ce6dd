"""Old "Capacity changed" inbox notices marked read

Before notifications_0024 every capacity summary put "Capacity changed" in the service owner's inbox, a notice that
said nothing (which service, or what changed); none is made now (a stop or a start is "Not taking new referrals" /
"Taking new referrals again"). Those still unread kept the unread counts up for ever (49 in the demo's adviser
organisation): they are marked read, as of this migration, and stay in the inbox as they were (the retention
schedule deletes them 183 days on, as any read item). Read ones, and e-mails and webhooks, are left alone.

Each row it marks carries a fact naming this revision (not shown: InboxFacts lists the facts an item shows), so the
downgrade makes exactly those unread again.

Revision ID: notifications_0025
Revises: notifications_0024
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "notifications_0025"
down_revision = "notifications_0024"
branch_labels = None
depends_on = None

CAPACITY_CHANGED = "capacity_changed"
MARK = "marked_read_by"  # the fact naming this revision on each row it marked
delivery = sa.table("delivery", sa.column("id", sa.Uuid), sa.column("channel", sa.String),
                    sa.column("message_code", sa.String), sa.column("facts", sa.JSON),
                    sa.column("read_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    bind, now = op.get_bind(), datetime.now(timezone.utc)
    unread = bind.execute(sa.select(delivery.c.id, delivery.c.facts).where(
        delivery.c.channel == "inbox", delivery.c.message_code == CAPACITY_CHANGED,
        delivery.c.read_at.is_(None))).all()
    _update(bind, [{"row": row.id, "new_facts": {**(row.facts or {}), MARK: revision}, "new_read_at": now}
                   for row in unread])


def downgrade() -> None:
    bind = op.get_bind()
    # `facts` is JSON on both databases, queried differently on each: read here and judged in Python instead.
    read = bind.execute(sa.select(delivery.c.id, delivery.c.facts).where(
        delivery.c.channel == "inbox", delivery.c.message_code == CAPACITY_CHANGED,
        delivery.c.read_at.is_not(None))).all()
    _update(bind, [{"row": row.id, "new_facts": {k: v for k, v in row.facts.items() if k != MARK},
                    "new_read_at": None}
                   for row in read if isinstance(row.facts, dict) and row.facts.get(MARK) == revision])


def _update(bind, rows: list[dict]) -> None:
    statement = sa.update(delivery).where(delivery.c.id == sa.bindparam("row")).values(
        facts=sa.bindparam("new_facts", type_=sa.JSON), read_at=sa.bindparam("new_read_at", type_=sa.DateTime(True)))
    for start in range(0, len(rows), 500):  # bounded batches
        bind.execute(statement, rows[start:start + 500])
