from worklink.migrations import run_migrations
from worklink_notifications.models import Base

run_migrations(Base.metadata)
