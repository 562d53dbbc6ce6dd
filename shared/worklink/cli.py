"""The `worklink` command line."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from pathlib import Path

import click

from worklink.config import ConfigError, Settings


class WorkLinkCLI(click.Group):
    """`worklink <service> ...` reaches a service's own commands (its cli.py `main` group),
    found lazily so the platform commands start without importing every service."""

    def invoke(self, ctx):
        # A setting missing or unsafe stops any command with one line naming it, never a traceback.
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from None

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(_service_command_names()))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None and name in _service_command_names():
            from worklink.service import get_service
            command = get_service(name).module("cli").main
        return command


def _service_command_names() -> list[str]:
    import importlib.util

    from worklink.service import installed_services

    return [name for name, spec in installed_services().items()
            if importlib.util.find_spec(f"{spec.package}.cli") is not None]


@click.group(cls=WorkLinkCLI)
def main() -> None:
    """WorkLink: run the services, manage topics and databases, mint development tokens.

    `worklink <service> --help` lists a service's own commands (e.g. `worklink directory import`)."""


def _service_option(f):
    return click.option("--service", "-s", required=True, help="directory, adjustments, referrals or notifications")(f)


@main.command()
@click.option("--broker", type=click.Choice(["embedded", "kafka", "external"]), default=None,
              help="embedded: in-memory tansu (default); kafka: a local Apache Kafka; "
                   "external: KAFKA_BOOTSTRAP_SERVERS (the default when it is set)")
@click.option("--only", help="comma-separated services to run (default: all)")
@click.option("--seed/--no-seed", default=True, show_default=True, help="load each service's demo data")
def up(broker: str | None, only: str | None, seed: bool) -> None:
    """Start the broker, all four services, their relays, consumers and jobs, and restart any that exits or whose
    /healthz says it is stuck. Ctrl-C stops everything."""
    from worklink.supervisor import Supervisor

    sys.exit(Supervisor(broker=broker, only=only.split(",") if only else None, seed=seed).run())


@main.command()
@click.option("--service", "-s", help="only this service's topics: create those it publishes (and their .dlt), "
              "and check that those it reads exist (their publishers create them)")
@click.option("--check", is_flag=True, help="only check the catalogue against deploy/topics.toml")
@click.option("--verify", is_flag=True, help="only compare the broker's topics with deploy/topics.toml "
              "(partitions, retention, cleanup policy, segment age); exit 1 if they differ")
@click.option("--grow-partitions", is_flag=True, help="also grow topics to their declared partition count "
              "(keys move partition: drain the topic's consumers first, or a key's events can overtake each other)")
def topics(service: str | None, check: bool, verify: bool, grow_partitions: bool) -> None:
    """Create the topics declared in deploy/topics.toml (and their .dlt companions), and set
    their declared configs on topics that already exist."""
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.topics import check_catalogue, ensure_topics, find_topics_file, load_topics, topic_drift

    specs = load_topics()
    problems = check_catalogue(CATALOGUE, specs)
    if problems:
        raise click.ClickException("catalogue and topics disagree:\n  " + "\n  ".join(problems))
    if check:
        click.echo(f"{find_topics_file()}: {len(specs)} topics, consistent with the catalogue")
        return
    settings = Settings.for_process("platform")
    if service:
        _service_topics(settings, service, specs, verify=verify, grow_partitions=grow_partitions)
        return
    if verify:
        drift = topic_drift(settings.kafka, specs)
        for name, difference in drift.items():
            click.echo(f"{name:45} {difference}")
        if drift:
            raise click.ClickException(f"{len(drift)} topic(s) differ from {find_topics_file()}; "
                                       "`worklink topics` sets them as declared")
        click.echo(f"{len(specs)} topics on the broker as declared")
        return
    for name, outcome in ensure_topics(settings.kafka, specs, grow_partitions=grow_partitions).items():
        click.echo(f"{name:45} {outcome}")


def _service_topics(settings: Settings, service: str, specs, *, verify: bool, grow_partitions: bool) -> None:
    """A partner running one service touches only its own topics; the ones it reads are another's to create."""
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.topics import ensure_topics, service_topics, topic_drift
    from worklink.service import get_service

    spec = get_service(service)
    own, theirs = service_topics(CATALOGUE, specs, spec.publishes, spec.handlers)
    with _broker_errors():
        if verify:
            done = topic_drift(settings.kafka, own)
        else:
            done = ensure_topics(settings.kafka, own, grow_partitions=grow_partitions)
        missing = topic_drift(settings.kafka, theirs)
    for name, outcome in done.items():
        click.echo(f"{name:45} {outcome}")
    for name, difference in missing.items():
        click.echo(f"{name:45} read by {service}: {difference} (`worklink topics -s <its publisher>` creates it)")
    # Its consumer waits for a topic not created yet, so only --verify (is everything in place?) fails on one.
    if verify and (done or missing):
        raise click.ClickException(f"{len(done) + len(missing)} topic(s) {service} needs are missing or differ "
                                   "from deploy/topics.toml")
    click.echo(f"{service}: its {len(own)} topics as declared; {len(theirs) - len(missing)} of the "
               f"{len(theirs)} it reads exist")


@main.command("kafka-acls")
@click.option("--apply", "apply_", is_flag=True, help="create the missing ACLs on the cluster (as its super user: "
              "KAFKA_SASL_USERNAME/...); without it, only print the plan")
@click.option("--prune", is_flag=True, help="with --apply, also delete the planned principals' grants the plan no "
              "longer has")
@click.option("--principal", default="User:{service}", show_default=True,
              help="each service's Kafka principal; {service} is its name")
@click.option("--operator", default="User:worklink-operator", show_default=True,
              help="principal of whoever runs `worklink dlt` (empty: none)")
def kafka_acls(apply_: bool, prune: bool, principal: str, operator: str) -> None:
    """Least-privilege ACLs: each service writes only what it publishes, reads only what it handles
    (a restricted topic: its one reader), in its own group, and dead-letters only what it reads."""
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging import acls, kafka
    from worklink.messaging.topics import load_topics

    if "{service}" not in principal:
        raise click.BadParameter("must contain {service}", param_hint="--principal")
    try:
        grants = acls.plan(CATALOGUE, load_topics(), acls.roles_of_installed_services(), principal=principal,
                           operator=operator or None)
    except acls.AclPlanError as exc:
        raise click.ClickException(str(exc)) from exc
    if not apply_:
        for grant in grants:
            click.echo(str(grant))
        click.echo(f"{len(grants)} grants planned; --apply creates the missing ones")
        return
    with _broker_errors():
        client = kafka.admin(Settings.for_process("platform").kafka)
        try:
            created, removed = acls.apply(client, grants, prune=prune)
        except RuntimeError as exc:  # refused or not visible in time: nothing is half-reported as done
            raise click.ClickException(str(exc)) from exc
        finally:
            client.close()
    for grant in created:
        click.echo(f"created  {grant}")
    for grant in removed:
        click.echo(f"removed  {grant}")
    click.echo(f"{len(grants)} grants planned: {len(created)} created, {len(removed)} removed")


@main.command()
@click.option("--role", required=True, type=click.Choice(["resident", "gp", "adviser", "org_admin", "alliance_admin"]))
@click.option("--org", help="organisation id the user acts for (needed for gp, adviser and org_admin)")
@click.option("--sub", "subject", help="subject (user id); generated if omitted")
@click.option("--ttl", default=3600, show_default=True, help="lifetime in seconds")
@click.option("--name", help="display name claim")
@click.option("--org-name", help="organisation name claim (org_name)")
def token(role: str, org: str | None, subject: str | None, ttl: int, name: str | None, org_name: str | None) -> None:
    """Mint a development bearer token signed with the configured HS256 secret."""
    from worklink.auth import ORGANISATION_ROLES, mint_token

    # Refuse before reading the settings: in production they refuse the development secret first.
    if os.environ.get("WORKLINK_ENV", "").lower() == "production":
        raise click.ClickException("worklink token mints development tokens; it is disabled in production")
    if role in ORGANISATION_ROLES and not (org or "").strip():  # every service would refuse the token (401)
        raise click.UsageError(f"--role {role} needs --org <id>: the organisation they act for.")
    settings = Settings.from_env("platform")
    extra = {key: value for key, value in (("name", name), ("org_name", org_name)) if value}
    click.echo(mint_token(settings.jwt, role=role, org=org, subject=subject, ttl_seconds=ttl, **extra))


@main.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to a file")
def asyncapi(output: Path | None) -> None:
    """Print the AsyncAPI 3.0 document generated from the event catalogue."""
    from worklink.events.asyncapi import asyncapi_document
    from worklink.events.contracts import CATALOGUE
    from worklink.messaging.topics import load_topics
    from worklink.service import installed_services

    consumers = {spec.group_id: list(spec.handlers) for spec in installed_services().values()}
    text = json.dumps(asyncapi_document(CATALOGUE, load_topics(), consumers), indent=2)
    if output:
        output.write_text(text + "\n")
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


@main.command()
def seed() -> None:
    """Load demo data into each service that ships some (clearly marked as demo data)."""
    from worklink.service import installed_services

    for spec in installed_services().values():
        click.echo(f"{spec.name:14} {spec.seed(Settings.from_env(spec.name)) or 'no demo data'}")


@main.group()
def db() -> None:
    """Database migrations, per service."""


@db.command("upgrade")
@click.option("--service", "-s", help="one service (default: all installed)")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(service: str | None, revision: str) -> None:
    """Apply migrations to each service's own database."""
    from worklink.migrations import RuntimeRoleError, upgrade_service_database
    from worklink.service import get_service, installed_services

    specs = [get_service(service)] if service else list(installed_services().values())
    for spec in specs:
        settings = Settings.for_process(spec.name)
        spec.check_settings(settings)  # its migrations may read them (adjustments' person key)
        try:
            upgrade_service_database(spec.migrations_dir, settings, revision)
        except RuntimeRoleError as exc:
            raise click.ClickException(f"{spec.name}: migrated, but not granted: {exc}") from None
        runs_as = ("" if settings.migrations_database_url == settings.database_url
                   else f" (runs as {_redact(settings.database_url)})")
        click.echo(f"{spec.name:14} at {revision}: {_redact(settings.migrations_database_url)}{runs_as}")


@db.command("revision")
@_service_option
@click.option("--message", "-m", required=True)
@click.option("--autogenerate/--empty", default=True)
def db_revision(service: str, message: str, autogenerate: bool) -> None:
    """Write a new migration for a service (autogenerated from its models)."""
    from alembic import command

    from worklink.migrations import alembic_config, upgrade
    from worklink.service import get_service

    spec = get_service(service)
    url = Settings.from_env(spec.name).migrations_database_url
    upgrade(spec.migrations_dir, url)
    command.revision(alembic_config(spec.migrations_dir, url), message=message, autogenerate=autogenerate)


@main.command()
@_service_option
@click.option("--metrics-port", type=int, help="serve Prometheus metrics on this port")
def relay(service: str, metrics_port: int | None) -> None:
    """Run a service's outbox relay (publishes its outbox to Kafka)."""
    from worklink.service import get_service
    from worklink.workers import run_relay

    run_relay(get_service(service), metrics_port)


@main.command()
@_service_option
@click.option("--metrics-port", type=int, help="serve Prometheus metrics (incl. consumer lag) on this port")
def consume(service: str, metrics_port: int | None) -> None:
    """Run a service's event consumer (its own consumer group)."""
    from worklink.service import get_service
    from worklink.workers import run_consumer

    run_consumer(get_service(service), metrics_port)


@main.command()
@_service_option
@click.argument("name")
@click.option("--metrics-port", type=int, help="serve Prometheus metrics on this port")
def job(service: str, name: str, metrics_port: int | None) -> None:
    """Run one of a service's background jobs (its jobs.py JOBS), e.g. a delivery worker."""
    from worklink.service import get_service
    from worklink.workers import run_job

    try:
        run_job(get_service(service), name, metrics_port)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@_service_option
@click.option("--bind", "-b", help="host:port (default 127.0.0.1:<service port>)")
def serve(service: str, bind: str | None) -> None:
    """Run a service's web app under gunicorn (shared settings in worklink.gunicorn_conf)."""
    import os

    from worklink.service import get_service

    spec = get_service(service)
    spec.check_settings(Settings.for_process(spec.name))  # refused here, before gunicorn starts
    bind = bind or f"127.0.0.1:{os.environ.get(spec.name.upper() + '_PORT', spec.default_port)}"
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "-c", "python:worklink.gunicorn_conf",
                               "-b", bind, "--name", f"worklink-{spec.name}", spec.wsgi_target])


@main.group()
def dlt() -> None:
    """Inspect dead-letter topics and re-drive their records (ids, types, reasons and
    timestamps only: an event's data is never printed)."""


def _reason_option(f):
    from worklink.messaging.deadletters import REASONS

    return click.option("--reason", "reasons", multiple=True, type=click.Choice(REASONS),
                        help="only records dead-lettered for this reason (repeatable)")(f)


@dlt.command("list")
@click.argument("topic_names", metavar="[TOPIC]...", nargs=-1)
@_reason_option
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0),
              help="records shown per topic (the count covers them all)")
@click.option("--json", "as_json", is_flag=True, help="one JSON document instead of text")
def dlt_list(topic_names: tuple[str, ...], reasons: tuple[str, ...], limit: int, as_json: bool) -> None:
    """What dead-letter topics hold (default: every .dlt of deploy/topics.toml).

    Per record: position (PARTITION:OFFSET), when it was dead-lettered, reason, event id, type
    and source, the consumer group, the error, and whether it was re-driven. Never its data."""
    from worklink.messaging.deadletters import dead_letter_topic, inspect, reason_counts, select
    from worklink.messaging.topics import load_topics

    settings = Settings.for_process("platform")
    names = [dead_letter_topic(n) for n in topic_names] or [
        spec.name for spec in load_topics() if spec.name.endswith(".dlt")]
    report = []
    for name in names:
        try:
            with _broker_errors():
                found = inspect(settings.kafka, name)
        except LookupError as exc:
            report.append({"topic": name, "missing": str(exc)})
            continue
        matching = select(found.letters, reasons=reasons)
        report.append({"topic": name, "records": len(found.letters), "reasons": reason_counts(found.letters),
                       "matching": len(matching),
                       "shown": [found.summary(letter) for letter in matching[:limit]]})
    if as_json:
        click.echo(json.dumps({"topics": report}, indent=2))
    else:
        for entry in report:
            _echo_dead_letters(entry)


def _echo_dead_letters(entry: dict) -> None:
    if "missing" in entry:
        click.echo(f"{entry['topic']}: {entry['missing']}")
        return
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(entry["reasons"].items()))
    plural = "" if entry["records"] == 1 else "s"
    click.echo(f"{entry['topic']}: {entry['records']} record{plural}" + (f" ({reasons})" if reasons else ""))
    for r in entry["shown"]:
        state = "re-driven" if r["redriven"] else "not re-driven"
        if r["redrive_count"]:
            state += f" (back after {r['redrive_count']} re-drive(s))"
        if r["redrive_by"] and not r["redriven"]:
            state += f", re-drivable until {r['redrive_by']}"
        click.echo(f"  {r['position']}  {r['dead_lettered_at']}  {r['reason'] or '-'}  {state}")
        click.echo(f"      event {r['event_id'] or '-'}  type {r['type'] or '-'}  source {r['source'] or '-'}  "
                   f"group {r['consumer_group'] or '-'}")
        click.echo(f"      error {r['error'] or '-'}")
        for run in r["redrives"]:
            click.echo(f"      re-driven by {run['operator']} at {run['at']} (run {run['run']})")
    if entry["matching"] > len(entry["shown"]):
        click.echo(f"  ... {entry['matching'] - len(entry['shown'])} more (--limit)")


@dlt.command("redrive")
@click.argument("topic_name", metavar="TOPIC.dlt")
@_reason_option
@click.option("--event-id", "event_ids", multiple=True, help="only the record of this event (repeatable)")
@click.option("--offset", "offsets", multiple=True,
              help="only the record at PARTITION:OFFSET, as `list` shows it (repeatable; OFFSET alone "
                   "when no other partition has that offset)")
@click.option("--dry-run", is_flag=True, help="say what would be re-driven, publish nothing")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def dlt_redrive(topic_name: str, reasons: tuple[str, ...], event_ids: tuple[str, ...], offsets: tuple[str, ...],
                dry_run: bool, yes: bool) -> None:
    """Put dead letters back on their topic (fix what failed them first).

    Re-publishes the chosen records (all, when none is chosen) to their original topic: same
    key, value and headers, plus `redriven-from` and `redrive-count`. Skips records already
    re-driven, and events older than their consumers remember handling (they could be handled
    twice). A record that fails again is dead-lettered again, with its reason.

    Every re-drive is recorded before anything is sent: a receipt on the dead-letter topic (who
    - WORKLINK_OPERATOR or the login, the Kafka principal, the host - when, which records, their
    event ids; never data) and a JSON audit log line on stderr. A dry run sends and records nothing."""
    from worklink.messaging.deadletters import (dead_letter_topic, inspect, plan_redrive, record_redrive, redrive,
                                                redrive_receipt, select)

    settings = Settings.for_process("platform")
    try:
        with _broker_errors():
            found = inspect(settings.kafka, dead_letter_topic(topic_name))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    positions = _positions(found.letters, offsets)
    chosen = select(found.letters, reasons=reasons, event_ids=event_ids, positions=positions)
    unmatched = [v for v in event_ids if v not in {x.event_id for x in chosen}] + [
        p for p in positions if p not in {x.position for x in chosen}]
    if unmatched:
        raise click.ClickException(f"no dead letter in {found.name} matches {', '.join(unmatched)}"
                                   + (" with the reasons given" if reasons else ""))
    plan = plan_redrive(found, chosen)
    target = found.name.removesuffix(".dlt")
    click.echo(f"{found.name} -> {target}: {len(plan.send)} to re-drive, {len(plan.already)} already re-driven"
               + (f", {plan.merged} dead-lettered by another group too (sent once)" if plan.merged else ""))
    for letter in plan.too_old:
        click.echo(f"  not re-driving {letter.position}  event {letter.event_id}: too old (re-drivable until "
                   f"{found.redrive_by(letter).isoformat()}; its consumers may have forgotten they handled it)")
    verb = "would re-drive" if dry_run else "re-driving"
    for letter in plan.send:
        click.echo(f"  {verb} {letter.position}  {letter.reason or '-'}  event {letter.event_id or '-'}")
    if dry_run or not plan.send:
        return
    if not yes:
        click.confirm(f"Re-drive {len(plan.send)} record(s) to {target}?", abort=True)
    receipt = redrive_receipt(found.name, plan.send, operator=_operator(), host=socket.gethostname(),
                              kafka_principal=settings.kafka.security.get("sasl_plain_username"))
    with _broker_errors("nothing was re-driven: a re-drive is recorded on the dead-letter topic first"):
        record_redrive(settings.kafka, receipt)
    try:
        with _broker_errors("the records sent before it count as re-driven: run the same command again for the rest"):
            redrive(settings.kafka, plan.send, run=receipt["run"])
    except click.ClickException as failed:
        _log_redrive(receipt, "failed", failed.message)
        raise
    _log_redrive(receipt, "sent")
    click.echo(f"re-drove {len(plan.send)} record(s) to {target} (run {receipt['run']})")


def _operator() -> str:
    """Who is re-driving: WORKLINK_OPERATOR (a named person where the login is shared), else the login."""
    import getpass

    try:
        return os.environ.get("WORKLINK_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):  # a container user with no name
        return f"uid {os.getuid()}"


def _log_redrive(receipt: dict, outcome: str, error: str | None = None) -> None:
    """The re-drive's structured audit log line (JSON on stderr): the receipt's ids, never data."""
    import logging

    from worklink.logs import configure_logging

    configure_logging("worklink-dlt")
    records = receipt["records"]
    logging.getLogger("worklink.audit").info("dlt redrive", extra={
        "action": receipt["action"], "outcome": outcome, "error": error, "run": receipt["run"],
        "operator": receipt["operator"], "kafka_principal": receipt["kafka_principal"], "host": receipt["host"],
        "at": receipt["at"], "dead_letter_topic": receipt["dead_letter_topic"], "topic": receipt["topic"],
        "positions": [r["position"] for r in records], "event_ids": [r["event_id"] for r in records]})


@contextlib.contextmanager
def _broker_errors(advice: str = "is the broker up? (KAFKA_BOOTSTRAP_SERVERS)"):
    from kafka.errors import KafkaError

    try:
        yield
    except (KafkaError, TimeoutError) as exc:
        raise click.ClickException(f"{exc!r}: {advice}") from None


def _positions(letters, offsets: tuple[str, ...]) -> list[str]:
    """--offset values as PARTITION:OFFSET; a bare OFFSET must name one partition's record."""
    positions = []
    for value in offsets:
        partition, _, offset = value.rpartition(":")
        if not offset.isdigit() or not (partition.isdigit() or partition == ""):
            raise click.BadParameter(f"{value!r} is not PARTITION:OFFSET", param_hint="--offset")
        if partition:
            positions.append(f"{int(partition)}:{int(offset)}")
            continue
        found = [x.position for x in letters if x.offset == int(offset)]
        if len(found) > 1:
            raise click.BadParameter(f"offset {offset} is in several partitions ({', '.join(found)}): "
                                     "name one as PARTITION:OFFSET", param_hint="--offset")
        positions.append(found[0] if found else offset)
    return positions


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
