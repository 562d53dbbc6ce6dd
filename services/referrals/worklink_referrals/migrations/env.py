from worklink.migrations import run_migrations
from worklink_referrals.models import Base

run_migrations(Base.metadata)
