"""Partial delivery indexes: inbox rows, due rows and digest rows each in their own small index.

Revision ID: notifications_0005
Revises: notifications_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0005"
down_revision = "notifications_0004"
branch_labels = None
depends_on = None

INBOX = sa.text("channel = 'inbox'")
DUE = sa.text("status IN ('pending', 'retrying')")
DIGEST = sa.text("status = 'digest'")


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_index("ix_delivery_inbox")
        batch.drop_index("ix_delivery_due")
    op.create_index("ix_delivery_inbox", "delivery", ["recipient_kind", "recipient_id", "read_at"],
                    postgresql_where=INBOX, sqlite_where=INBOX)
    op.create_index("ix_delivery_due", "delivery", ["next_attempt_at"], postgresql_where=DUE, sqlite_where=DUE)
    op.create_index("ix_delivery_digest", "delivery", ["recipient_kind", "recipient_id"],
                    postgresql_where=DIGEST, sqlite_where=DIGEST)


def downgrade() -> None:
    op.drop_index("ix_delivery_digest", "delivery")
    op.drop_index("ix_delivery_due", "delivery")
    op.drop_index("ix_delivery_inbox", "delivery")
    op.create_index("ix_delivery_due", "delivery", ["status", "next_attempt_at"])
    op.create_index("ix_delivery_inbox", "delivery", ["recipient_kind", "recipient_id", "channel", "read_at"])
