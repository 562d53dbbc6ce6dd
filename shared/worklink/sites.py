"""Where another service's pages are, for a page that links a user there.

Services never call each other to do their job; a link only sends the user's browser to the page
that owns the record. Outside production a site defaults to where `worklink up` serves it
(`<SERVICE>_PORT` or the service's port); in production there is no link unless its setting names
the site, so a user is never sent to a loopback address.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Mapping
from urllib.parse import urlencode

from worklink.config import require_https, url_setting
from worklink.service import get_service


def site_url(env: Mapping[str, str], setting: str, service: str, environment: str) -> str:
    """The base URL of `service`'s pages from `setting` (refused by its name unless http(s) with a host, and https
    in production), else its local address outside production ("" in it)."""
    if url := url_setting(env, setting):
        require_https(setting, url, environment, "people follow these links from e-mails, letters and pages")
        return url.rstrip("/")
    if environment == "production":
        return ""
    port = env.get(f"{service.upper()}_PORT") or get_service(service).default_port
    return f"http://127.0.0.1:{port}"


def directory_service_page(directory_url: str, service_id) -> str | None:
    """A service's public page in the directory (anyone, no sign-in: what it offers and how to reach it),
    or None without the directory's address or a service. A resident is told which service has their
    referral by this link, never by the service's name in an event."""
    return f"{directory_url}/find/services/{service_id}" if directory_url and service_id else None


# --- a service's names, handed from the directory to the self-referral form ------------------------------
# The self-referral form names the service a resident chose in the directory, but referrals knows services by
# id only (no event carries a name). So the directory's "Refer yourself" link carries the names it shows, signed:
# a link made elsewhere cannot make the form name a service the id is not.

def site_link_key(settings) -> str:
    """Signs what one site's link tells another's page. Derived from the platform-wide clinician reference key
    (every service can make it), so no new secret; "" where there is none (production with tokens not signed
    by a shared secret and no WORKLINK_CLINICIAN_REFERENCE_KEY): links then carry no names."""
    return (site_link_keys(settings) or ("",))[0]


def site_link_keys(settings) -> tuple[str, ...]:
    """The signing key, then those derived from the reference keys a rotation retired (a link made before it
    still names its service); () where there is none."""
    from worklink.config import ConfigError
    from worklink.pseudonyms import clinician_reference_keys

    try:
        keys = clinician_reference_keys(settings)
    except ConfigError:
        return ()
    return tuple(hashlib.sha256(b"worklink-site-links:" + key.encode()).hexdigest()  # never a clinician reference
                 for key in keys)


def _names_signature(key: str, service_id, service: str, organisation: str) -> str:
    message = "\n".join(("service-names", str(service_id), service, organisation))
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def self_referral_link(referrals_url: str, key: str, service_id, service: str, organisation: str) -> str:
    """The referrals site's self-referral form for a directory service, naming it (signed when there is a key)."""
    query = {"service_id": str(service_id)}
    if key:
        query.update(service=service, organisation=organisation,
                     signature=_names_signature(key, service_id, service, organisation))
    return f"{referrals_url}/refer-yourself?{urlencode(query)}"


def named_service(keys: tuple[str, ...], values: Mapping[str, str]) -> tuple[str, str] | None:
    """(service name, organisation name) from a self-referral link's values (query or form), if the directory
    signed them for its `service_id` under one of `keys` (site_link_keys); None otherwise."""
    service_id, service, organisation = (values.get(name, "") for name in ("service_id", "service", "organisation"))
    signature = values.get("signature", "")
    if not (keys and service_id and service and organisation and signature):
        return None
    matches = [hmac.compare_digest(_names_signature(key, service_id, service, organisation), signature)
               for key in keys if key]
    return (service, organisation) if any(matches) else None
