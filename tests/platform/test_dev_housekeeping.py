"""`worklink up` keeps var/ bounded: its children's logs are rotated by size while they write, and the development
mail server's messages are pruned by count and age (worklink.devstack.housekeeping)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from worklink.devstack.housekeeping import MAIL_KEEP, MAIL_MAX_AGE_SECONDS, prune_mail, rotate_log
from worklink.supervisor import Child, Supervisor

pytestmark = pytest.mark.timeout(120)

# Writes numbered 100-byte lines, unbuffered, as a service process writes its JSON lines to stdout.
CHATTY = "import itertools, sys, time\nfor n in itertools.count():\n" \
         "    sys.stdout.write(f'{n:099d}\\n'); sys.stdout.flush(); time.sleep(0.0005)\n"


def _numbers(path: Path) -> list[int]:
    return [int(line) for line in path.read_bytes().splitlines()]


def test_a_running_childs_log_is_rotated_under_it_and_it_keeps_writing_to_the_emptied_file(tmp_path):
    log = tmp_path / "logs" / "directory-relay.log"
    log.parent.mkdir()
    child = Child("directory-relay", [sys.executable, "-c", CHATTY], log)
    child.start(dict(os.environ))
    rotations = 0
    try:
        deadline = time.monotonic() + 60
        while rotations < 4 and time.monotonic() < deadline:
            rotations += rotate_log(log, max_bytes=50_000, backups=2)
            time.sleep(0.05)
        time.sleep(0.3)  # the child writes on, into the emptied file
    finally:
        child.stop()
        child.wait(timeout=10)
    assert rotations == 4
    assert sorted(p.name for p in log.parent.iterdir()) == \
        ["directory-relay.log", "directory-relay.log.1", "directory-relay.log.2"]  # the oldest copies dropped
    current, newest, older = _numbers(log), _numbers(log.with_name(log.name + ".1")), \
        _numbers(log.with_name(log.name + ".2"))
    # No hole of NUL bytes where the child's old offset was (every line parses), and the lines run on in order
    # from one file to the next: the child's writes went to the start of the emptied file.
    assert current and newest and older
    assert older[-1] < newest[0] and newest[-1] < current[0]
    assert current == sorted(current) and current[-1] - current[0] + 1 == len(current)
    assert log.stat().st_size < 50_000 + 100 * len(current)


def test_a_log_under_its_limit_is_left_alone(tmp_path):
    log = tmp_path / "web.log"
    log.write_bytes(b"x" * 999)
    assert not rotate_log(log, max_bytes=1000, backups=3)
    assert not rotate_log(tmp_path / "missing.log")
    assert log.read_bytes() == b"x" * 999 and [p.name for p in tmp_path.iterdir()] == ["web.log"]


def test_development_mail_is_kept_to_the_newest_and_to_its_age(tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    now = time.time()
    for n in range(MAIL_KEEP + 20):  # one a minute, the newest last
        message = folder / f"{n:05d}.eml"
        message.write_bytes(b"Subject: demo\r\n\r\nhello\r\n")
        os.utime(message, (now - (MAIL_KEEP + 20 - n) * 60,) * 2)
    stale = folder / "stale.eml"
    stale.write_bytes(b"Subject: old\r\n\r\nold\r\n")
    os.utime(stale, (now - MAIL_MAX_AGE_SECONDS - 60,) * 2)
    (folder / "notes.txt").write_text("not a message")

    assert prune_mail(folder, now=now) == 21
    kept = sorted(p.name for p in folder.glob("*.eml"))
    assert kept == [f"{n:05d}.eml" for n in range(20, MAIL_KEEP + 20)]
    assert (folder / "notes.txt").exists()


def test_the_supervisor_rotates_var_logs_and_prunes_var_mail(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKLINK_VAR", str(tmp_path / "var"))
    supervisor = Supervisor()
    (supervisor.var / "logs").mkdir(parents=True)
    (supervisor.var / "mail").mkdir()
    big, small = supervisor.var / "logs" / "notifications-deliver.log", supervisor.var / "logs" / "broker.log"
    big.write_bytes(b"line\n" * 2_200_000)  # 11 MB
    small.write_bytes(b"line\n")
    old = supervisor.var / "mail" / "20200101T000000-0001.eml"
    old.write_bytes(b"Subject: old\r\n\r\nold\r\n")
    os.utime(old, (time.time() - 30 * 24 * 3600,) * 2)

    supervisor._keep_var_bounded()
    assert big.stat().st_size == 0 and big.with_name(big.name + ".1").stat().st_size == 11_000_000
    assert small.read_bytes() == b"line\n"
    assert not old.exists()
