"""A real Apache Kafka 4.x broker (single-node KRaft) for tests, via ``deploy/kafka/kafka.sh``.

The first start resolves the broker jars from Maven Central (needs ``mvn`` and Java 17+)
into ``$WORKLINK_KAFKA_LIB`` (default ``~/.cache/worklink/kafka-<version>/lib``); later
starts reuse them and take ~2-3 s.  Data lives in ``data_dir`` and survives
:meth:`LocalKafka.stop` / :meth:`LocalKafka.start` (or :meth:`LocalKafka.restart`).
The broker's output is appended to ``data_dir/kafka.log``, or to ``log_path``.
Topics are NOT auto-created unless ``WORKLINK_KAFKA_AUTO_CREATE=true`` is set.

    with LocalKafka(tmp_path / "kafka") as kafka:
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from . import deploy_dir, free_port, port_open

__all__ = ["LocalKafka", "KafkaStartError"]


class KafkaStartError(RuntimeError):
    pass


class LocalKafka:
    def __init__(self, data_dir: Path, port: int = 0, controller_port: int = 0, heap: str = "512m",
                 sasl_users: dict[str, str] | None = None, log_path: Path | None = None):
        """`sasl_users` (name -> password, with "admin" the super user): SASL/PLAIN on every listener
        and an authorizer that refuses what no ACL allows (see kafka.sh). `log_path`: where the broker's
        output is appended (`worklink up`: var/logs, whose logs it rotates in place); by default in `data_dir`."""
        self.data_dir = Path(data_dir).resolve()
        self.log_path = Path(log_path).resolve() if log_path else None
        self.sasl_users = dict(sasl_users or {})
        self.port = port or free_port()
        cport = controller_port or free_port()
        while cport == self.port:
            cport = free_port()
        self.controller_port = cport
        self.heap = heap
        self.script = deploy_dir() / "kafka" / "kafka.sh"

    # -- properties --------------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.log_path or self.data_dir / "kafka.log"

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    # -- lifecycle ---------------------------------------------------------------------
    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(self.script), *args, "--data-dir", str(self.data_dir), "--log-file", str(self.log_file)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env(),
        )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "WORKLINK_KAFKA_SASL_USERS"}
        if self.sasl_users:
            env["WORKLINK_KAFKA_SASL_USERS"] = ",".join(f"{name}:{pw}" for name, pw in self.sasl_users.items())
        return env

    def security(self, user: str) -> dict[str, str]:
        """kafka-python settings to connect as `user` (a broker started with `sasl_users`)."""
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                "sasl_plain_username": user, "sasl_plain_password": self.sasl_users[user]}

    def start(self, timeout: float = 120) -> "LocalKafka":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # the jar resolution (first run only) is not counted against the broker timeout
        prep = subprocess.run(["bash", str(self.script), "classpath"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=900)
        if prep.returncode != 0:
            raise KafkaStartError(f"resolving Kafka jars failed:\n{prep.stderr[-4000:]}")
        try:
            res = self._run("start", "--port", str(self.port), "--controller-port", str(self.controller_port),
                            "--heap", self.heap, "--timeout", str(int(timeout)), timeout=timeout + 60)
        except subprocess.TimeoutExpired as e:
            self.stop()
            raise KafkaStartError(f"kafka.sh start timed out after {timeout}s") from e
        if res.returncode != 0:
            self.stop()
            raise KafkaStartError(f"kafka.sh start failed (rc={res.returncode}):\n{res.stderr[-6000:]}")
        return self

    def stop(self) -> None:
        try:
            self._run("stop", timeout=60)
        except subprocess.TimeoutExpired:
            pid = self.pid
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # wait until the ports are released so a restart can bind them again
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (port_open(self.port) or port_open(self.controller_port)):
            time.sleep(0.1)

    def restart(self, timeout: float = 120) -> "LocalKafka":
        self.stop()
        return self.start(timeout=timeout)

    def is_running(self) -> bool:
        try:
            res = self._run("status", timeout=30)
        except subprocess.TimeoutExpired:
            return False
        return res.returncode == 0 and port_open(self.port)

    def __enter__(self) -> "LocalKafka":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalKafka(data_dir={str(self.data_dir)!r}, bootstrap={self.bootstrap_servers!r})"
