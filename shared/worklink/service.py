"""How the platform tooling finds the services installed beside it.

Each service package registers a `ServiceSpec` under the `worklink.services`
entry-point group and follows one layout: `app.py` (create_app), `models.py`
(Base, PLATFORM tables), `events.py` (PUBLISHES, HANDLERS), `migrations/`, and
optionally `config.py` (check: the service's own settings, checked as each of its
processes starts), `jobs.py` (JOBS: background processes such as a delivery worker or a
periodic clock check; DEV_JOBS: ones only `worklink up` runs, such as a local mail
server) and `seed.py` (demo data).
The shared library never imports a service by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "worklink.services"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str
    default_port: int
    title: str

    def module(self, name: str) -> Any:
        return importlib.import_module(f"{self.package}.{name}")

    def create_app(self, **kwargs):
        return self.module("app").create_app(**kwargs)

    @property
    def metadata(self):
        return self.module("models").Base.metadata

    @property
    def tables(self):
        return self.module("models").PLATFORM

    @property
    def handlers(self) -> dict:
        return dict(getattr(self.module("events"), "HANDLERS", {}))

    @property
    def publishes(self) -> tuple[str, ...]:
        return tuple(getattr(self.module("events"), "PUBLISHES", ()))

    @property
    def jobs(self) -> dict:
        """Background jobs (`<package>.jobs:JOBS`, name -> run(settings, stop)), each its own process."""
        return self._jobs("JOBS")

    @property
    def dev_jobs(self) -> dict:
        """Jobs for the whole system on one machine (`worklink up`) only, never deployed."""
        return self._jobs("DEV_JOBS")

    def _jobs(self, name: str) -> dict:
        module = self.optional_module("jobs")
        return dict(getattr(module, name, {})) if module else {}

    def optional_module(self, name: str) -> Any | None:
        """`<package>.<name>`, or None when the service has no such module (an import error inside it is raised)."""
        try:
            return self.module(name)
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.package}.{name}":
                raise
            return None

    def check_settings(self, settings) -> None:
        """The service's own settings (`<package>.config:check(settings)`, optional), checked when any of its
        processes starts: a missing or unsafe one then stops the relay, the consumer or a job at once,
        never at its first event (where a consumer would retry, then dead-letter it)."""
        _check_platform_keys(settings)
        if check := getattr(self.optional_module("config"), "check", None):
            check(settings)

    def seed(self, settings) -> str | None:
        """Load the service's demo data (idempotent); None if it ships none."""
        loader = self.optional_module("seed")
        return loader.load_demo_data(settings) if loader else None

    @property
    def demo_settings(self) -> dict[str, str]:
        """Settings other services need for this service's demo data to make sense when the whole system
        runs on one machine (`<package>.seed:DEMO_SETTINGS`; `worklink up` sets them when it seeds, unless
        set already): the directory's demo says which of its taxonomy terms are specialist employment advice."""
        return dict(getattr(self.optional_module("seed"), "DEMO_SETTINGS", {}))

    @property
    def migrations_dir(self) -> Path:
        return Path(importlib.import_module(self.package).__file__).parent / "migrations"

    @property
    def group_id(self) -> str:
        return f"worklink.{self.name}"

    @property
    def wsgi_target(self) -> str:
        return f"{self.package}.app:create_app()"


def installed_services() -> dict[str, ServiceSpec]:
    found = {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return dict(sorted(found.items(), key=lambda item: item[1].default_port))


def get_service(name: str) -> ServiceSpec:
    services = installed_services()
    if name not in services:
        raise LookupError(f"no WorkLink service {name!r} is installed (have: {', '.join(services) or 'none'})")
    return services[name]


def _check_platform_keys(settings) -> None:
    """The keys every service holds alike, current and retired (WORKLINK_SESSION_KEY, WORKLINK_CLINICIAN_REFERENCE_KEY
    and their _PREVIOUS): every service announces a sign-out everywhere and hears the others', naming the user
    under the clinician reference key. Only the web app read them at start: with RS256 and no key set, a relay,
    consumer or job started, and the consumer dead-lettered every sign-out announcement."""
    from worklink.pseudonyms import clinician_reference_keys
    from worklink.web.sessions import session_keys

    session_keys(settings)
    clinician_reference_keys(settings)
