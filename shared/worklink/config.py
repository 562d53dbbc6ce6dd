"""Settings read from the environment, one place for every service and worker.

Each service owns its database: `<SERVICE>_DATABASE_URL` (e.g. DIRECTORY_DATABASE_URL)
defaults to a SQLite file under WORKLINK_VAR; `<SERVICE>_MIGRATIONS_DATABASE_URL`, when set, is the same
database as the role that owns it, for migrations only. Everything else is platform-wide.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

DEV_JWT_SECRET = "worklink-development-secret-do-not-use-in-production"
ENVIRONMENTS = ("development", "test", "production")


class ConfigError(RuntimeError):
    """The configuration is unsafe or inconsistent; the process must not start."""


@dataclass(frozen=True)
class JwtSettings:
    algorithm: str = "HS256"
    secret: str = DEV_JWT_SECRET
    public_key: str | None = None  # PEM, for RS256 without JWKS
    jwks_url: str | None = None
    issuer: str = "worklink-dev"
    audience: str = "worklink"
    leeway_seconds: int = 30


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    security: Mapping[str, Any] = field(default_factory=dict)

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]


@dataclass(frozen=True)
class Settings:
    service: str
    env: str = "development"
    database_url: str = ""
    # The role that owns the database's tables, for migrations only (`worklink db upgrade`): the running service
    # connects as database_url's role, which may change rows but not the tables (see worklink.migrations).
    # The same URL when no separate owner is set.
    migrations_database_url: str = ""
    var_dir: Path = Path("var")
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    jwt: JwtSettings = field(default_factory=JwtSettings)
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    # Reverse proxies in front of the service whose X-Forwarded-For/-Proto/-Host are believed.
    # 0 (the default) believes none: a client could otherwise pick its own address.
    trusted_proxies: int = 0
    # Bearer token Prometheus sends for /metrics; without one, production does not serve /metrics.
    metrics_token: str = ""
    # Host names this service answers to (WORKLINK_ALLOWED_HOSTS, comma-separated; "" answers any): links
    # built from the request's Host - an employer's reply link - can then never name another site.
    allowed_hosts: tuple[str, ...] = ()
    # A signed-in page session unused this long ends (worklink.web.sessions): GP practices share
    # computers. 30 minutes by default; the alliance's IG lead to confirm.
    session_idle_minutes: int = 30

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("WORKLINK_VAR", "var")).resolve()
        default_db = f"sqlite:///{var_dir / (service + '.db')}"
        database_url = database_url_setting(env, database_variable(service), default_db)
        settings = cls(
            service=service,
            env=env.get("WORKLINK_ENV", "development"),
            database_url=database_url,
            migrations_database_url=_migrations_database_url(env, service, database_url),
            var_dir=var_dir,
            kafka=KafkaSettings(
                bootstrap_servers=_bootstrap_servers(env),
                security=_kafka_security(env),
            ),
            jwt=JwtSettings(
                algorithm=env.get("WORKLINK_JWT_ALGORITHM", "HS256"),
                secret=env.get("WORKLINK_JWT_SECRET", DEV_JWT_SECRET),
                public_key=_read_key(env, "WORKLINK_JWT_PUBLIC_KEY"),
                jwks_url=url_setting(env, "WORKLINK_JWKS_URL") or None,
                issuer=env.get("WORKLINK_JWT_ISSUER", "worklink-dev"),
                audience=env.get("WORKLINK_JWT_AUDIENCE", "worklink"),
            ),
            max_body_bytes=whole_number(env, "WORKLINK_MAX_BODY_BYTES", 1024 * 1024, unit="bytes"),
            log_level=_log_level(env),
            trusted_proxies=_count(env, "WORKLINK_TRUSTED_PROXIES"),
            metrics_token=env.get("WORKLINK_METRICS_TOKEN", ""),
            allowed_hosts=tuple(h.strip() for h in env.get("WORKLINK_ALLOWED_HOSTS", "").split(",") if h.strip()),
            session_idle_minutes=_minutes(env, "WORKLINK_SESSION_IDLE_MINUTES", 30),
        )
        settings.check()
        return settings

    @classmethod
    def for_process(cls, service: str, environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings a deployed process runs on: from_env, and in production no development default for
        where the service's data lives or which cluster it joins. A forgotten variable would otherwise put a
        container's data in a SQLite file of its own (the relay never seeing the web app's outbox) or point it
        at a broker on 127.0.0.1. `service` "platform" (topics, dead letters, ACLs) needs the cluster only."""
        env = os.environ if environ is None else environ
        settings = cls.from_env(service, env)
        if settings.env == "production":
            # The cluster carries people's details on restricted topics: plaintext only when chosen (a private
            # network, a mesh's mutual TLS), never by omission.
            needed = ["KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL"] + (
                [] if service == "platform" else [database_variable(service)])
            missing = [name for name in needed if not env.get(name, "").strip()]
            if missing:
                raise ConfigError(f"production needs {', '.join(missing)} set (no development default is used for "
                                  "the database or the Kafka cluster; KAFKA_SECURITY_PROTOCOL=PLAINTEXT must be said)")
        return settings

    def check(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"WORKLINK_ENV must be one of {ENVIRONMENTS}, not {self.env!r}")
        if self.env != "production":
            return
        jwt = self.jwt
        if jwt.algorithm.startswith("HS"):
            if jwt.secret == DEV_JWT_SECRET:
                raise ConfigError("refusing to start in production with the development JWT secret; "
                                  "set WORKLINK_JWT_SECRET or use RS256 with WORKLINK_JWKS_URL")
            if len(jwt.secret) < 32:
                raise ConfigError("WORKLINK_JWT_SECRET must be at least 32 characters in production")
        elif not (jwt.public_key or jwt.jwks_url):
            raise ConfigError(f"{jwt.algorithm} needs WORKLINK_JWT_PUBLIC_KEY or WORKLINK_JWKS_URL")
        if jwt.jwks_url:
            require_https("WORKLINK_JWKS_URL", jwt.jwks_url, self.env,
                          "a key fetched over plain HTTP can be swapped on the way, and every token then forged")
        if self.metrics_token and len(self.metrics_token) < 32:  # it guards /metrics as a JWT secret guards the API
            raise ConfigError("WORKLINK_METRICS_TOKEN must be at least 32 characters in production")


def database_variable(service: str) -> str:
    return f"{service.upper()}_DATABASE_URL"


def migrations_database_variable(service: str) -> str:
    return f"{service.upper()}_MIGRATIONS_DATABASE_URL"


def _migrations_database_url(env: Mapping[str, str], service: str, database_url: str) -> str:
    """`<SERVICE>_MIGRATIONS_DATABASE_URL`: the database's owner, for migrations; the service's own URL when unset.
    Refused unless it is the same database as the service's (migrating one and running on another would pass
    every check and serve from tables nobody upgraded), and, for two roles, unless the service's URL names its role:
    the owner grants that role what the service needs."""
    from sqlalchemy.engine import make_url

    name, runtime_name = migrations_database_variable(service), database_variable(service)
    value = database_url_setting(env, name, database_url)
    owner, runtime = make_url(value), make_url(database_url)
    if _where(owner) != _where(runtime):
        raise ConfigError(f"{name} must name the database {runtime_name} names (the same driver, host, port and "
                          "database, as its owner)")
    if runtime.drivername.startswith("postgresql") and owner.username and not runtime.username:
        raise ConfigError(f"{runtime_name} must name its role (user) when {name} names another: the owner grants it "
                          "what the service needs")
    return value


def _where(url) -> tuple:
    postgresql = url.drivername.startswith("postgresql")
    return (url.drivername.split("+")[0], url.host, url.port or (5432 if postgresql else None), url.query.get("host"),
            url.database)


# --- addresses: refused at start by the variable's name. A typo ("htps://", "https//host", "postgres://", a
# broker named with a scheme) started every process, which failed at its first request, event or e-mail - or sent
# people links that went nowhere. None of these messages shows a password the value may hold.

WEB_SCHEMES = ("https", "http")
# The drivers this image has: psycopg 3 (plain "postgresql://" means psycopg2, which it has not) and SQLite.
DATABASE_DRIVERS = ("postgresql+psycopg", "sqlite", "sqlite+pysqlite")
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")


def url_setting(env: Mapping[str, str], name: str, default: str = "", *,
                schemes: tuple[str, ...] = WEB_SCHEMES) -> str:
    """A URL setting (a site's address, an API the service calls): `default` when unset, else refused by its name
    unless it has one of `schemes` and a host name."""
    value = env.get(name, "").strip()
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        problem = f"must start with {' or '.join(scheme + '://' for scheme in schemes)}"
    elif not _is_host(parts.hostname or ""):
        problem = "names no host name"
    elif not _port_is_number(parts):
        problem = "has a port that is not a number from 1 to 65535"
    else:
        return value
    raise ConfigError(f"{name} {problem}, e.g. {schemes[0]}://host.example.org (got {_without_credentials(value)!r})")


def require_https(name: str, url: str, environment: str, why: str) -> None:
    """In production, refuse `url` by its variable's name unless it is https: for addresses whose content must not
    be read or changed on the way (`why`) - the JWKS, the sites people are sent to from e-mails, letters and
    pages, and the directory's geocoder (residents' postcodes). Not for the database, brokers and mail server,
    which have settings of their own for their transport: docker-compose's http:// and plaintext addresses are
    development ones, between containers."""
    if environment == "production" and urlsplit(url).scheme != "https":
        raise ConfigError(f"{name} must start with https:// in production ({why}), got {_without_credentials(url)!r}")


def host_setting(env: Mapping[str, str], name: str, default: str) -> str:
    """A host name or IP address alone (its port and protocol are settings of their own), refused by its name."""
    value = env.get(name, "").strip() or default
    if not _is_host(value):
        raise ConfigError(f"{name} must be a host name or IP address alone (no scheme, port or path), "
                          f"e.g. smtp.example.org, not {_without_credentials(value)!r}")
    return value


def database_url_setting(env: Mapping[str, str], name: str, default: str) -> str:
    """A database URL: a driver this image has, a host for PostgreSQL (in the URL or its ?host= socket directory),
    and a database; refused by its name, never showing the URL (it holds the password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    value = env.get(name, "").strip() or default
    example = "postgresql+psycopg://user:password@host:5432/database or sqlite:////path/to/file.db"
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{name} is not a database URL: {example}") from None
    if url.drivername not in DATABASE_DRIVERS:
        problem = f"names the driver {url.drivername!r}; use postgresql+psycopg or sqlite"
    elif url.drivername.startswith("postgresql") and not (url.host or url.query.get("host")):
        problem = "names no host"
    elif not url.database or url.database == ":memory:":
        problem = "names no database" + (" file (one in memory would be each process's own, and lost)"
                                         if url.drivername.startswith("sqlite") else "")
    else:
        return value
    raise ConfigError(f"{name} {problem}: {example}")


def _bootstrap_servers(env: Mapping[str, str]) -> str:
    """KAFKA_BOOTSTRAP_SERVERS: brokers as host:port, comma-separated; the protocol is KAFKA_SECURITY_PROTOCOL."""
    value = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or "127.0.0.1:9092"
    servers = [server.strip() for server in value.split(",") if server.strip()]
    for server in servers:
        if not _is_broker_address(server):
            raise ConfigError(f"KAFKA_BOOTSTRAP_SERVERS: {server!r} is not a broker's host:port, e.g. "
                              "kafka-1.example.org:9092 (no scheme: the protocol is KAFKA_SECURITY_PROTOCOL)")
    if not servers:
        raise ConfigError("KAFKA_BOOTSTRAP_SERVERS names no broker")
    return value


def _is_broker_address(server: str) -> bool:
    parts = urlsplit("//" + server)
    return ("/" not in server and "@" not in server and _is_host(parts.hostname or "") and _port_is_number(parts)
            and parts.port is not None)


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_NAME.fullmatch(host.lower())) and ".." not in host


def _port_is_number(parts) -> bool:
    try:
        return parts.port is None or parts.port > 0
    except ValueError:  # not a number, or past 65535
        return False


def _without_credentials(value: str) -> str:
    return re.sub(r"^([a-z][a-z0-9+.-]*://)?[^/@]*@", lambda m: (m.group(1) or "") + "***@", value, flags=re.I)


def _kafka_security(env: Mapping[str, str]) -> dict[str, Any]:
    """Optional TLS/SASL settings for a managed cluster, as kafka-python names them."""
    names = {
        "KAFKA_SECURITY_PROTOCOL": "security_protocol",
        "KAFKA_SASL_MECHANISM": "sasl_mechanism",
        "KAFKA_SASL_USERNAME": "sasl_plain_username",
        "KAFKA_SASL_PASSWORD": "sasl_plain_password",
        "KAFKA_SSL_CAFILE": "ssl_cafile",
        # mutual TLS: the service's own certificate and key (PEM files), its identity to the cluster
        "KAFKA_SSL_CERTFILE": "ssl_certfile",
        "KAFKA_SSL_KEYFILE": "ssl_keyfile",
        "KAFKA_SSL_PASSWORD": "ssl_password",
    }
    return {option: env[name] for name, option in names.items() if env.get(name)}


def whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1, unit: str = "") -> int:
    """A numeric setting, refused by name (a ConfigError, not int()'s ValueError naming only the value)."""
    value = env.get(name, "").strip() or str(default)
    if not value.isdigit() or int(value) < minimum:
        of = f" of {unit}" if unit else ""
        raise ConfigError(f"{name} must be a whole number{of} ({minimum} or more), not {value!r}")
    return int(value)


def positive_number(env: Mapping[str, str], name: str, default: float, *, unit: str = "") -> float:
    """A setting that may take a fraction (hours, seconds), above 0: refused by name, as whole_number's are
    (float() named only the value, and took 0, a negative number, nan and inf)."""
    value = env.get(name, "").strip() or str(default)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        of = f" of {unit}" if unit else ""
        raise ConfigError(f"{name} must be a number{of} above 0, not {value!r}")
    return number


def _count(env: Mapping[str, str], name: str) -> int:
    return whole_number(env, name, 0, minimum=0, unit="proxies")


def _minutes(env: Mapping[str, str], name: str, default: int) -> int:
    return whole_number(env, name, default, unit="minutes")


def _read_key(env: Mapping[str, str], name: str) -> str | None:
    """Accept either PEM text or a path to a PEM file (one that cannot be read is refused by the variable's
    name: it was a traceback naming the path only)."""
    value = env.get(name)
    if not value:
        return None
    if value.lstrip().startswith("-----BEGIN"):
        return value
    try:
        return Path(value).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: neither PEM text nor a readable PEM file ({exc.__class__.__name__}: "
                          f"{value!r})") from None


def _log_level(env: Mapping[str, str]) -> str:
    """WORKLINK_LOG_LEVEL: one of Python's level names (logging refused another with a traceback)."""
    level = env.get("WORKLINK_LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"WORKLINK_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {level!r}")
    return level
