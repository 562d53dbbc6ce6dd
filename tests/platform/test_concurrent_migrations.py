"""Every web container runs `worklink db upgrade -s <service>` as it starts (deploy/docker/entrypoint.sh):
two replicas started together migrate one PostgreSQL database at once, and both must come up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

WORKLINK = shutil.which("worklink", path=str(Path(sys.executable).parent)) or "worklink"


def test_two_replicas_migrating_one_database_together_both_start(postgres_url, tmp_path):
    env = {**os.environ, "WORKLINK_ENV": "development", "WORKLINK_VAR": str(tmp_path),
           "REFERRALS_DATABASE_URL": postgres_url}
    replicas = [subprocess.Popen([WORKLINK, "db", "upgrade", "-s", "referrals"], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [(replica.wait(240), replica.stderr.read()) for replica in replicas]
    assert [code for code, _ in results] == [0, 0], "\n".join(err[-1500:] for _, err in results)
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        assert len(connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()) == 1
    engine.dispose()
