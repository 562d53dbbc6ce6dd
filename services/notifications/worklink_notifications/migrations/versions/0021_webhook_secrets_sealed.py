"""webhook secrets sealed: each subscriber's signing secrets are stored encrypted, not in clear

A copy of the database or a backup held every partner's `whsec_` secret, enough to sign a webhook the partner
would believe. The secrets must stay recoverable (the worker signs with them), so they are sealed under
NOTIFICATIONS_WEBHOOK_SECRET_KEY (config.webhook_secret_seal; webhook_secrets.py), the key in the environment this
migration runs with: the same key the service runs with. The columns grow to hold a sealed value. The downgrade
opens them again (under the key or its _PREVIOUS) and refuses, changing nothing, if one cannot be opened.

Revision ID: notifications_0021
Revises: notifications_0020
"""
import sqlalchemy as sa
from alembic import op

from worklink.keyring import Unopenable
from worklink_notifications.config import webhook_secret_seal

revision = "notifications_0021"
down_revision = "notifications_0020"
branch_labels = None
depends_on = None

CLEAR = "whsec_"  # signing.PREFIX: every secret in clear starts with it, a sealed one never does
COLUMNS = ("secret", "previous_secret")
subscriber = sa.table("webhook_subscriber", sa.column("id", sa.Uuid), *(sa.column(c, sa.String) for c in COLUMNS))


def upgrade() -> None:
    _resize(sa.String(length=128), sa.String(length=255))
    seal = webhook_secret_seal()
    _rewrite(lambda stored: seal.seal(stored) if stored.startswith(CLEAR) else stored)


def downgrade() -> None:
    seal = webhook_secret_seal()
    try:
        _rewrite(lambda stored: stored if stored.startswith(CLEAR) else seal.open(stored))
    except Unopenable:
        raise RuntimeError("a webhook signing secret cannot be opened with NOTIFICATIONS_WEBHOOK_SECRET_KEY or its "
                           "_PREVIOUS: downgrade with the key it was sealed under (nothing was changed)") from None
    _resize(sa.String(length=255), sa.String(length=128))


def _resize(before: sa.String, after: sa.String) -> None:
    with op.batch_alter_table("webhook_subscriber", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=before, type_=after, existing_nullable=False)
        batch_op.alter_column("previous_secret", existing_type=before, type_=after, existing_nullable=True)


def _rewrite(change) -> None:
    if op.get_context().as_sql:  # offline SQL script: there are no rows to read
        return
    bind = op.get_bind()
    changes = [(row.id, {column: change(getattr(row, column)) for column in COLUMNS if getattr(row, column)})
               for row in bind.execute(sa.select(subscriber)).all()]  # every one worked out before any is written
    for subscriber_id, values in changes:
        bind.execute(sa.update(subscriber).where(subscriber.c.id == subscriber_id).values(values))
