"""clinician reference: user channel settings store the pseudonymous reference of their user id

Events that may not carry a login id (adjustments.employer_response.recorded) name the
clinician by worklink.pseudonyms.clinician_reference(sub, key); routing finds the user's
e-mail settings by this column. Existing rows are backfilled with the key this migration
runs with (the service's own environment: WORKLINK_CLINICIAN_REFERENCE_KEY or the JWT
secret). If that key cannot be worked out here, the rows stay empty and each is filled the
next time its user saves their settings.

Revision ID: notifications_0010
Revises: notifications_0009
Create Date: 2026-11-26 04:39:24
"""
import logging

from alembic import op
import sqlalchemy as sa

from worklink.config import ConfigError, Settings
from worklink.pseudonyms import clinician_reference, clinician_reference_key

revision = "notifications_0010"
down_revision = "notifications_0009"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    with op.batch_alter_table("user_channel_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clinician_reference", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_user_channel_settings_clinician_reference"),
                                          ["clinician_reference"])
    backfill()


def backfill() -> None:
    if op.get_context().as_sql:  # offline SQL script: there are no rows to read
        return
    try:
        key = clinician_reference_key(Settings.from_env("notifications"))
    except ConfigError as exc:
        log.warning("clinician references not backfilled (each is set on its user's next save): %s", exc)
        return
    table = sa.table("user_channel_settings", sa.column("user_id", sa.String),
                     sa.column("clinician_reference", sa.String))
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.select(table.c.user_id)).all():
        bind.execute(sa.update(table).where(table.c.user_id == user_id)
                     .values(clinician_reference=clinician_reference(user_id, key)))


def downgrade() -> None:
    with op.batch_alter_table("user_channel_settings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_user_channel_settings_clinician_reference"), type_="unique")
        batch_op.drop_column("clinician_reference")
