"""The notifications service's database: its own tables plus the platform tables."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

from worklink.db import NAMING_CONVENTION, platform_tables


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# outbox, processed_events and audit_log live in this service's own database.
PLATFORM = platform_tables(Base.metadata)
