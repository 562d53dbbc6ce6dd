"""Where another service's pages are, for a page that links a user there.

Services never call each other to do their job; a link only sends the user's browser to the page
that owns the record. Outside production a site defaults to where `worklink up` serves it
(`<SERVICE>_PORT` or the service's port); in production there is no link unless its setting names
the site, so a user is never sent to a loopback address.
"""

from __future__ import annotations

from typing import Mapping

from worklink.service import get_service


def site_url(env: Mapping[str, str], setting: str, service: str, environment: str) -> str:
    """The base URL of `service`'s pages from `setting`, else its local address outside production ("" in it)."""
    if env.get(setting):
        return env[setting].rstrip("/")
    if environment == "production":
        return ""
    port = env.get(f"{service.upper()}_PORT") or get_service(service).default_port
    return f"http://127.0.0.1:{port}"


def directory_service_page(directory_url: str, service_id) -> str | None:
    """A service's public page in the directory (anyone, no sign-in: what it offers and how to reach it),
    or None without the directory's address or a service. A resident is told which service has their
    referral by this link, never by the service's name in an event."""
    return f"{directory_url}/find/services/{service_id}" if directory_url and service_id else None
