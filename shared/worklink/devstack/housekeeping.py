"""Keeping what `worklink up` writes under $WORKLINK_VAR bounded, so a development stack left running for
weeks does not fill the disk: its processes' logs are rotated by size, and the development mail server's
messages are pruned by count and age."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

LOG_MAX_BYTES = 10 * 1024 * 1024  # a busy day of one process's JSON lines; four files at most, 40 MB
LOG_BACKUPS = 3
# A message holds a (demo) resident's address and words: the service itself erases an address once the message
# is sent, or 7 days after a dead one, so the development copy is not kept longer; 500 are far more than anyone
# reads back and a few MB at most, however fast a loop sends.
MAIL_KEEP = 500
MAIL_MAX_AGE_SECONDS = 7 * 24 * 3600


def rotate_log(path: Path, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS) -> bool:
    """Rotate `path` once it reaches `max_bytes`: `.1` is its copy, the older copies move up to `.<backups>`
    (the oldest is dropped), and `path` itself is emptied in place (logrotate's copytruncate).

    In place, because a child writes to the file it inherited at start, never reopening it: a renamed file would
    keep growing under its new name. The supervisor opens it for appending (O_APPEND), so the child's next line
    goes to the start of the emptied file, with no hole. A line written in the instant between the copy and the
    truncation is lost, as with copytruncate."""
    try:
        if path.stat().st_size < max_bytes:
            return False
    except FileNotFoundError:
        return False
    for n in range(backups - 1, 0, -1):
        older = _backup(path, n)
        if older.exists():
            older.replace(_backup(path, n + 1))
    with path.open("rb") as source, _backup(path, 1).open("wb") as copy:
        shutil.copyfileobj(source, copy)  # reads to the end, lines written meanwhile included
        os.truncate(path, 0)
    return True


def _backup(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def prune_mail(folder: Path, keep: int = MAIL_KEEP, max_age_seconds: float = MAIL_MAX_AGE_SECONDS,
               now: float | None = None) -> int:
    """Delete the .eml files in `folder` older than `max_age_seconds`, and all but the newest `keep`; the count."""
    now = time.time() if now is None else now
    messages = sorted(_messages(folder), key=lambda item: item[1], reverse=True)  # newest first
    doomed = [path for n, (path, modified) in enumerate(messages) if n >= keep or now - modified > max_age_seconds]
    for path in doomed:
        path.unlink(missing_ok=True)
    return len(doomed)


def _messages(folder: Path) -> list[tuple[Path, float]]:
    found = []
    for path in folder.glob("*.eml"):
        try:
            found.append((path, path.stat().st_mtime))
        except FileNotFoundError:  # pruned by a second `up` on the same folder meanwhile
            pass
    return found
