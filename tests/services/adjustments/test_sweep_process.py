"""`python -m worklink_adjustments.sweep` as a real process on real PostgreSQL: its loop outlives a database
outage (a TCP proxy cut in front of the server, which stays up for everyone else)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.platform.tcp_proxy import proxied
from worklink.migrations import upgrade
from worklink.service import installed_services

ROOT = Path(__file__).resolve().parents[3]


def test_the_sweep_loop_retries_a_pass_the_database_refused_and_carries_on(postgres_url, tmp_path):
    """The loop ran each pass bare: the first database error ended the process (a database restart stopped the
    hourly expiry, review-date and retention sweep until someone restarted it)."""
    upgrade(installed_services()["adjustments"].migrations_dir, postgres_url)
    log = tmp_path / "sweep.log"
    with proxied(postgres_url) as (proxy, url):
        proxy.cut()
        env = {**os.environ, "ADJUSTMENTS_DATABASE_URL": url, "WORKLINK_ENV": "test", "WORKLINK_VAR": str(tmp_path),
               "WORKLINK_LOG_FORMAT": "text", "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared")])}
        with log.open("w") as out:
            sweep = subprocess.Popen([sys.executable, "-m", "worklink_adjustments.sweep", "--interval", "60"],
                                     env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30  # its first pass fails on the cut (a loaded machine starts it slowly)
            while "periodic job failed" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "periodic job failed" in log.read_text(), log.read_text()[-2000:]
            time.sleep(1)  # and it carries on: still running after the failure
            assert sweep.poll() is None, log.read_text()[-2000:]
            proxy.restore()
            deadline = time.monotonic() + 30  # retried after 5 s, then 10 s
            while "sweep done" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert "sweep done" in log.read_text(), log.read_text()[-2000:]
            assert sweep.poll() is None
        finally:
            sweep.terminate()
            sweep.wait(timeout=20)
