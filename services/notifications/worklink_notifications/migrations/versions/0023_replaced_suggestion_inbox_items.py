"""Inbox items about a suggestion a GP replaced, written before they were told apart (messages.VARIANTS): stored
as `suggestion_withdrawn`, they said "Suggestion withdrawn" to a practice whose suggestion still held in a newer
one. Their message code - from which the inbox words every item when it is read - becomes `suggestion_replaced`,
the code routing now gives adjustments.suggestion.withdrawn with reason `replaced` (a fact each item kept).

Inbox items only: an e-mail or webhook already sent said what it said, and a webhook retried must carry the body it
was first sent with. An item without `superseded_by_id` (not kept then) links its own suggestion, as before.

Revision ID: notifications_0023
Revises: notifications_0022
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0023"
down_revision = "notifications_0022"
branch_labels = None
depends_on = None

WITHDRAWN, REPLACED = "suggestion_withdrawn", "suggestion_replaced"
delivery = sa.table("delivery", sa.column("id", sa.Uuid), sa.column("event_type", sa.String),
                    sa.column("channel", sa.String), sa.column("message_code", sa.String),
                    sa.column("facts", sa.JSON))


def upgrade() -> None:
    bind = op.get_bind()
    # `facts` is JSON on both databases, queried differently on each: read here and judged in Python instead.
    rows = bind.execute(sa.select(delivery.c.id, delivery.c.facts).where(
        delivery.c.event_type == "adjustments.suggestion.withdrawn", delivery.c.channel == "inbox",
        delivery.c.message_code == WITHDRAWN)).all()
    replaced = [row.id for row in rows if isinstance(row.facts, dict) and row.facts.get("reason") == "replaced"]
    for start in range(0, len(replaced), 500):  # a bounded IN list per statement
        bind.execute(sa.update(delivery).where(delivery.c.id.in_(replaced[start:start + 500]))
                     .values(message_code=REPLACED))


def downgrade() -> None:
    pass  # the code words `suggestion_replaced` at either revision: nothing to put back
