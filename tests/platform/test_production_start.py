"""A partner runs one service in production: every process of it (web, relay, consumer, each job, its
migrations) refuses to start on a missing or unsafe setting, with one line naming the variable - never a
traceback, and never later, at its first event."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKLINK = shutil.which("worklink", path=str(Path(sys.executable).parent)) or "worklink"
SETTING = re.compile(r"^(WORKLINK_|KAFKA_|DIRECTORY_|ADJUSTMENTS_|REFERRALS_|NOTIFICATIONS_)")
PROCESSES = [("serve", "-s", "{service}", "-b", "127.0.0.1:1"), ("relay", "-s", "{service}"),
             ("consume", "-s", "{service}"), ("db", "upgrade", "-s", "{service}")]
JOBS = {"directory": "review-due", "adjustments": "sweep", "referrals": "clock", "notifications": "deliver"}


def start(args, tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    """The process as an operator starts it, with only the settings given (none inherited from this machine)."""
    env = {name: value for name, value in os.environ.items() if not SETTING.match(name)}
    env.update(WORKLINK_ENV="production", WORKLINK_VAR=str(tmp_path), WORKLINK_JWT_SECRET="j" * 40, **settings)
    try:
        return subprocess.run([WORKLINK, *args], capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worklink {' '.join(args)} started instead of refusing its settings")


def refused(result: subprocess.CompletedProcess, *variables: str) -> str:
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: configuration:") and all(v in line for v in variables), line
    return line


def own_settings(service: str, tmp_path: Path) -> dict[str, str]:
    return {f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / service}.db",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}


@pytest.mark.parametrize("service", ["directory", "notifications"])
@pytest.mark.parametrize("process", [*PROCESSES, ("job", "-s", "{service}", "{job}")], ids=lambda p: p[0])
def test_no_process_takes_a_development_database_or_broker(process, service, tmp_path):
    args = [part.format(service=service, job=JOBS[service]) for part in process]
    refused(start(args, tmp_path), "KAFKA_BOOTSTRAP_SERVERS", f"{service.upper()}_DATABASE_URL")
    without_broker = {k: v for k, v in own_settings(service, tmp_path).items() if k.endswith("_DATABASE_URL")}
    refused(start(args, tmp_path, **without_broker), "KAFKA_BOOTSTRAP_SERVERS")
    plaintext_by_omission = {**own_settings(service, tmp_path), "KAFKA_SECURITY_PROTOCOL": ""}
    refused(start(args, tmp_path, **plaintext_by_omission), "KAFKA_SECURITY_PROTOCOL")


def test_the_platform_commands_need_the_cluster_named(tmp_path):
    refused(start(["topics", "--verify"], tmp_path), "KAFKA_BOOTSTRAP_SERVERS")
    refused(start(["dlt", "list"], tmp_path), "KAFKA_BOOTSTRAP_SERVERS")


@pytest.mark.parametrize("service, variable", [("directory", "DIRECTORY_GEOCODER_URL"),
                                               ("adjustments", "ADJUSTMENTS_PERSON_KEY"),
                                               ("referrals", "REFERRALS_PERSON_KEY"),
                                               ("notifications", "NOTIFICATIONS_PUBLIC_URL")])
def test_a_consumer_and_a_relay_refuse_their_services_missing_settings_at_start(service, variable, tmp_path):
    """The referrals consumer reads its settings per event: it used to start, and dead-letter every request;
    the directory placed real postcodes with its demo table."""
    for process in (("consume", "-s", service), ("relay", "-s", service)):
        refused(start(process, tmp_path, **own_settings(service, tmp_path)), variable)


def test_notifications_needs_its_links_and_sender_named_and_mail_kept_off_clear_text(tmp_path):
    links = {"NOTIFICATIONS_PUBLIC_URL": "https://notify.example.org", "NOTIFICATIONS_MAIL_FROM": "x@example.org",
             **own_settings("notifications", tmp_path)}
    refused(start(["job", "-s", "notifications", "deliver"], tmp_path, **links), "NOTIFICATIONS_REFERRALS_URL")
    remote_mail = {**links, "NOTIFICATIONS_REFERRALS_URL": "https://refer.example.org",
                   "NOTIFICATIONS_SMTP_HOST": "smtp.example.org"}
    refused(start(["job", "-s", "notifications", "deliver"], tmp_path, **remote_mail), "NOTIFICATIONS_SMTP_STARTTLS")
    named = {**links, "NOTIFICATIONS_REFERRALS_URL": "https://refer.example.org"}  # its webhook secret key missing
    for process in (["job", "-s", "notifications", "deliver"], ["db", "upgrade", "-s", "notifications"]):
        refused(start(process, tmp_path, **named), "NOTIFICATIONS_WEBHOOK_SECRET_KEY")


def test_adjustments_web_app_refuses_a_missing_link_secret_before_gunicorn_starts(tmp_path):
    settings = {**own_settings("adjustments", tmp_path), "ADJUSTMENTS_PERSON_KEY": "p" * 40}
    refused(start(["serve", "-s", "adjustments", "-b", "127.0.0.1:1"], tmp_path, **settings), "ADJUSTMENTS_LINK_SECRET")


def test_adjustments_refuses_production_without_the_hosts_it_answers_to(tmp_path):
    """The employer's reply link in a letter is built from the request's host name."""
    settings = {**own_settings("adjustments", tmp_path), **SERVICE_SETTINGS["adjustments"]}
    settings.pop("WORKLINK_ALLOWED_HOSTS")
    refused(start(["serve", "-s", "adjustments", "-b", "127.0.0.1:1"], tmp_path, **settings), "WORKLINK_ALLOWED_HOSTS")


def test_a_bad_review_period_is_named_not_a_traceback(tmp_path):
    settings = {**own_settings("directory", tmp_path), "DIRECTORY_GEOCODER_URL": "https://api.postcodes.io",
                "DIRECTORY_REVIEW_PERIOD_DAYS": "three months"}
    refused(start(["job", "-s", "directory", "review-due"], tmp_path, **settings), "DIRECTORY_REVIEW_PERIOD_DAYS")


def test_a_service_can_join_the_cluster_with_mutual_tls():
    """The README offers SASL_SSL or mTLS: a service's own certificate and key reach its Kafka clients."""
    from worklink.config import Settings

    settings = Settings.from_env("referrals", {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/ca.pem",
                                               "KAFKA_SSL_CERTFILE": "/referrals.pem",
                                               "KAFKA_SSL_KEYFILE": "/referrals.key"})
    assert settings.kafka.security == {"security_protocol": "SSL", "ssl_cafile": "/ca.pem",
                                       "ssl_certfile": "/referrals.pem", "ssl_keyfile": "/referrals.key"}


@pytest.mark.parametrize("process, variable, value", [
    (("consume", "-s", "referrals"), "REFERRALS_CASELOAD_LIMIT", "lots"),
    (("job", "-s", "referrals", "clock"), "REFERRALS_JOB_INTERVAL_SECONDS", "5m"),
    (("relay", "-s", "referrals"), "WORKLINK_MAX_BODY_BYTES", "1MB"),
])
def test_a_number_that_is_not_one_is_refused_by_its_name(process, variable, value, tmp_path):
    """int() refused them with a traceback naming the value only ('invalid literal for int()')."""
    settings = {**own_settings("referrals", tmp_path), "REFERRALS_PERSON_KEY": "k" * 40, variable: value}
    refused(start(process, tmp_path, **settings), variable)


RS256 = {"WORKLINK_JWT_ALGORITHM": "RS256", "WORKLINK_JWKS_URL": "https://idp.example/jwks"}
RS256_KEYS = {**RS256, "WORKLINK_SESSION_KEY": "s" * 40, "WORKLINK_CLINICIAN_REFERENCE_KEY": "c" * 40}
SERVICE_SETTINGS = {  # each service's own production settings, so only the platform keys are missing
    "directory": {"DIRECTORY_GEOCODER_URL": "https://api.postcodes.io"},
    "adjustments": {"ADJUSTMENTS_PERSON_KEY": "p" * 40, "ADJUSTMENTS_LINK_SECRET": "l" * 40,
                    "WORKLINK_ALLOWED_HOSTS": "adjustments.example.org"},
    "referrals": {"REFERRALS_PERSON_KEY": "k" * 40},
    "notifications": {"NOTIFICATIONS_PUBLIC_URL": "https://notify.example.org",
                      "NOTIFICATIONS_REFERRALS_URL": "https://refer.example.org", "NOTIFICATIONS_MAIL_FROM": "x@example.org",
                      "NOTIFICATIONS_WEBHOOK_SECRET_KEY": "w" * 40},
}


@pytest.mark.parametrize("service", ["directory", "adjustments", "referrals", "notifications"])
def test_every_process_refuses_the_platform_keys_missing_or_short_not_the_web_app_alone(service, tmp_path):
    """With RS256 there is no shared secret to derive the cookie and clinician reference keys from. Only the web
    app read them at start: the relay, consumer and jobs started, and every consumer then dead-lettered each
    sign-out-everywhere announcement (it names the user under the clinician reference key)."""
    rs256 = {**own_settings(service, tmp_path), **SERVICE_SETTINGS[service], **RS256}
    session = {"WORKLINK_SESSION_KEY": "s" * 40}
    consume, relay = ("consume", "-s", service), ("relay", "-s", service)
    refused(start(consume, tmp_path, **rs256), "WORKLINK_SESSION_KEY")
    refused(start(relay, tmp_path, **rs256, **session), "WORKLINK_CLINICIAN_REFERENCE_KEY")
    refused(start(consume, tmp_path, **rs256, **session, WORKLINK_CLINICIAN_REFERENCE_KEY="too-short"),
            "WORKLINK_CLINICIAN_REFERENCE_KEY")
    refused(start(("job", "-s", service, JOBS[service]), tmp_path, **rs256, **session,
                  WORKLINK_CLINICIAN_REFERENCE_KEY="c" * 40, WORKLINK_SESSION_KEY_PREVIOUS="retired"),
            "WORKLINK_SESSION_KEY_PREVIOUS")


@pytest.mark.parametrize("process, variable, value", [
    (("job", "-s", "notifications", "deliver"), "NOTIFICATIONS_SMTP_PORT", "25x"),
    (("consume", "-s", "notifications"), "NOTIFICATIONS_MAX_ATTEMPTS", "six"),
    (("relay", "-s", "notifications"), "NOTIFICATIONS_GIVE_UP_HOURS", "3 days"),
    (("job", "-s", "notifications", "deliver"), "NOTIFICATIONS_BACKOFF_BASE", "0"),
    (("job", "-s", "notifications", "deliver"), "NOTIFICATIONS_WEBHOOK_ALERT_HOURS", "nan"),
    (("job", "-s", "notifications", "deliver"), "NOTIFICATIONS_DIGEST_HOUR", "24"),
    (("relay", "-s", "adjustments"), "ADJUSTMENTS_LINK_TTL_DAYS", "two months"),
])
def test_a_services_own_number_that_is_not_one_is_refused_by_its_name(process, variable, value, tmp_path):
    """int() and float() named the value only ('could not convert string to float: ...'), took 0, a negative
    number, nan or an hour 24, and adjustments' link lifetime was read by the web app alone (a traceback)."""
    service = process[2]
    settings = {**own_settings(service, tmp_path), **SERVICE_SETTINGS[service], variable: value}
    refused(start(process, tmp_path, **settings), variable)


@pytest.mark.parametrize("variable, value", [("REFERRALS_HOLIDAYS", "2026-12-29,25/12/2026"),
                                             ("REFERRALS_ROUTING_TAXONOMY", "not-a-uuid")])
def test_a_referrals_list_setting_with_an_item_that_is_not_one_is_refused_by_its_name(variable, value, tmp_path):
    """date.fromisoformat and uuid.UUID stopped every referrals process with a traceback naming only the value."""
    settings = {**own_settings("referrals", tmp_path), **SERVICE_SETTINGS["referrals"], variable: value}
    assert value.split(",")[-1] in refused(start(("relay", "-s", "referrals"), tmp_path, **settings), variable)


@pytest.mark.parametrize("variable, value", [("WORKLINK_LOG_LEVEL", "verbose"),
                                             ("WORKLINK_JWT_PUBLIC_KEY", "/no/such/key.pem")])
def test_a_platform_setting_that_cannot_be_used_is_refused_by_its_name(variable, value, tmp_path):
    """logging's 'Unknown level' and a missing key file's FileNotFoundError were tracebacks naming the value."""
    settings = {**own_settings("directory", tmp_path), **SERVICE_SETTINGS["directory"], variable: value,
                **({"WORKLINK_JWT_ALGORITHM": "RS256"} if variable == "WORKLINK_JWT_PUBLIC_KEY" else {})}
    refused(start(("relay", "-s", "directory"), tmp_path, **settings), variable)


ADDRESS_TYPOS = [  # (process, variable, a typo in it)
    (("relay", "-s", "directory"), "DIRECTORY_DATABASE_URL", "postgres://directory:s3cret@db.example.org/directory"),
    (("consume", "-s", "referrals"), "REFERRALS_DATABASE_URL", "postgresql+psycopg://referrals:s3cret@/referrals"),
    (("job", "-s", "adjustments", "sweep"), "ADJUSTMENTS_DATABASE_URL", "postgresql+psycopg://a:s3cret@db:54x2/a"),
    (("relay", "-s", "notifications"), "KAFKA_BOOTSTRAP_SERVERS", "SASL_SSL://kafka-1.example.org:9093"),
    (("consume", "-s", "directory"), "KAFKA_BOOTSTRAP_SERVERS", "kafka-1.example.org;9093"),
    (("job", "-s", "notifications", "deliver"), "NOTIFICATIONS_SMTP_HOST", "smtp://mail.example.org"),
    (("relay", "-s", "notifications"), "NOTIFICATIONS_PUBLIC_URL", "notify.example.org"),
    (("consume", "-s", "notifications"), "NOTIFICATIONS_REFERRALS_URL", "htps://refer.example.org"),
    (("relay", "-s", "notifications"), "NOTIFICATIONS_ADJUSTMENTS_URL", "https//adjust.example.org"),
    (("relay", "-s", "notifications"), "NOTIFICATIONS_DIRECTORY_URL", "https://find.example.org:80a"),
    (("relay", "-s", "directory"), "DIRECTORY_GEOCODER_URL", "api.postcodes.io"),
    (("consume", "-s", "directory"), "DIRECTORY_REFERRALS_URL", "https://refer example.org"),
    (("relay", "-s", "adjustments"), "ADJUSTMENTS_REFERRALS_URL", "refer.example.org/queue"),
    (("relay", "-s", "referrals"), "REFERRALS_DIRECTORY_URL", "ftp://find.example.org"),
    (("relay", "-s", "referrals"), "WORKLINK_JWKS_URL", "https:/idp.example.org/jwks"),
]


@pytest.mark.parametrize("process, variable, value", ADDRESS_TYPOS, ids=lambda p: p if isinstance(p, str) else None)
def test_an_address_with_a_typo_is_refused_at_start_by_its_name(process, variable, value, tmp_path):
    """A database, broker, mail server, API or site address was taken as typed: every process started, and failed
    at its first query, event or e-mail (or sent people links to nowhere). The password it holds is not shown."""
    service = process[2]
    settings = {**own_settings(service, tmp_path), **SERVICE_SETTINGS[service], variable: value,
                "NOTIFICATIONS_SMTP_STARTTLS": "1"}  # (a remote mail server without it is refused for that)
    assert "s3cret" not in refused(start(process, tmp_path, **settings), variable)


PLAIN_HTTP = [  # (process, variable): the JWKS every token is checked against, the sites people are sent to, and
    # the geocoder residents' postcodes go to
    (("relay", "-s", "referrals"), "WORKLINK_JWKS_URL"),
    (("job", "-s", "notifications", "deliver"), "NOTIFICATIONS_PUBLIC_URL"),
    (("consume", "-s", "notifications"), "NOTIFICATIONS_REFERRALS_URL"),
    (("relay", "-s", "notifications"), "NOTIFICATIONS_ADJUSTMENTS_URL"),
    (("relay", "-s", "notifications"), "NOTIFICATIONS_DIRECTORY_URL"),
    (("consume", "-s", "directory"), "DIRECTORY_REFERRALS_URL"),
    (("relay", "-s", "adjustments"), "ADJUSTMENTS_REFERRALS_URL"),
    (("relay", "-s", "referrals"), "REFERRALS_DIRECTORY_URL"),
    (("consume", "-s", "directory"), "DIRECTORY_GEOCODER_URL"),  # residents' postcodes: where they live
]


@pytest.mark.parametrize("process, variable", PLAIN_HTTP, ids=lambda p: p if isinstance(p, str) else None)
def test_production_refuses_plain_http_for_the_jwks_and_the_sites_people_are_sent_to(process, variable, tmp_path):
    """http:// was taken: signing keys fetched in clear could be swapped on the way (every token then forged), and
    e-mails, letters and pages sent people to http links; the directory sent residents' postcodes in clear."""
    service = process[2]
    settings = {**own_settings(service, tmp_path), **SERVICE_SETTINGS[service],
                **(RS256_KEYS if variable == "WORKLINK_JWKS_URL" else {}), variable: "http://site.example.org/x"}
    assert "https://" in refused(start(process, tmp_path, **settings), variable)


def test_plain_http_stays_outside_production():
    """Compose runs in development, where the local sites and a local geocoder are http."""
    from worklink.config import Settings
    from worklink.sites import site_url
    from worklink_directory.config import check

    development = {"WORKLINK_JWT_ALGORITHM": "RS256", "WORKLINK_JWKS_URL": "http://127.0.0.1:8080/jwks",
                   "DIRECTORY_REFERRALS_URL": "http://localhost:8083",
                   "DIRECTORY_GEOCODER_URL": "http://postcodes.internal:8000"}
    settings = Settings.from_env("directory", development)
    assert settings.jwt.jwks_url == "http://127.0.0.1:8080/jwks"
    assert site_url(development, "DIRECTORY_REFERRALS_URL", "referrals", "development") == "http://localhost:8083"
    check(settings, development)  # the geocoder's http is taken


def test_a_short_metrics_token_is_refused_in_production(tmp_path):
    """WORKLINK_METRICS_TOKEN of any length was taken: one character guarded /metrics."""
    settings = {**own_settings("directory", tmp_path), **SERVICE_SETTINGS["directory"],
                "WORKLINK_METRICS_TOKEN": "m" * 31}
    refused(start(("relay", "-s", "directory"), tmp_path, **settings), "WORKLINK_METRICS_TOKEN")


def test_addresses_written_as_deployments_write_them_are_taken():
    from worklink.config import Settings

    settings = Settings.from_env("referrals", {
        "WORKLINK_ENV": "production", "WORKLINK_JWT_SECRET": "j" * 40, "WORKLINK_METRICS_TOKEN": "m" * 32,
        "REFERRALS_DATABASE_URL": "postgresql+psycopg://referrals:pw@/referrals?host=/run/postgresql",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka-1.example.org:9093, [fd00::2]:9093",
        "WORKLINK_JWKS_URL": "https://idp.example.org:8443/realms/alliance/protocol/openid-connect/certs"})
    assert settings.kafka.servers == ["kafka-1.example.org:9093", "[fd00::2]:9093"]
    assert settings.metrics_token == "m" * 32


@pytest.mark.parametrize("owner_url, problem", [
    ("postgresql+psycopg://owner:s3cret@db.example.org/directory", "must name the database"),
    ("postgresql+psycopg://owner:s3cret@db-2.example.org/referrals", "must name the database"),
    ("sqlite:////var/lib/worklink/referrals.db", "must name the database"),
    ("postgres://owner:s3cret@db.example.org/referrals", "postgresql+psycopg"),
])
def test_the_owner_url_for_migrations_must_name_the_services_own_database(owner_url, problem, tmp_path):
    """Migrating one database and serving from another would pass every check and serve from tables nobody
    upgraded; the password it holds is not shown."""
    settings = {**own_settings("referrals", tmp_path), **SERVICE_SETTINGS["referrals"],
                "REFERRALS_DATABASE_URL": "postgresql+psycopg://referrals:s3cret@db.example.org/referrals",
                "REFERRALS_MIGRATIONS_DATABASE_URL": owner_url}
    line = refused(start(("db", "upgrade", "-s", "referrals"), tmp_path, **settings),
                   "REFERRALS_MIGRATIONS_DATABASE_URL")
    assert problem in line and "s3cret" not in line


def test_the_service_runs_as_its_own_role_and_migrates_as_the_owner_when_one_is_named():
    from worklink.config import ConfigError, Settings

    runtime = "postgresql+psycopg://referrals_app:pw@db.example.org/referrals"
    assert Settings.from_env("referrals", {"REFERRALS_DATABASE_URL": runtime}).migrations_database_url == runtime
    owner = "postgresql+psycopg://referrals:owner-pw@db.example.org:5432/referrals"
    settings = Settings.from_env("referrals", {"REFERRALS_DATABASE_URL": runtime,
                                               "REFERRALS_MIGRATIONS_DATABASE_URL": owner})
    assert (settings.database_url, settings.migrations_database_url) == (runtime, owner)
    with pytest.raises(ConfigError, match="REFERRALS_DATABASE_URL must name its role"):
        Settings.from_env("referrals", {"REFERRALS_DATABASE_URL": "postgresql+psycopg://db.example.org/referrals",
                                        "REFERRALS_MIGRATIONS_DATABASE_URL": owner})
