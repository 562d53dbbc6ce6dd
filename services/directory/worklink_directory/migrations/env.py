from worklink.migrations import run_migrations
from worklink_directory.models import Base

run_migrations(Base.metadata)
