from worklink.migrations import run_migrations
from worklink_adjustments.models import Base

run_migrations(Base.metadata)
