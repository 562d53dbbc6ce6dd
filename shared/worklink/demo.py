"""Who is who in the demo world (`worklink seed`, `worklink up`): ids every service's demo data names.

The demo is one invented county, Somerset. The directory generates its listings from these ids
(worklink_directory.demo); the other services' demo data name the same organisations, listings and
practice by id, since no service imports another's code. A service's demo that routes, refers or tells
someone therefore reaches what the directory lists.
"""

from __future__ import annotations

import uuid

NS = uuid.UUID("6f1c2a64-3b1e-4d6a-9a55-1f0d7e5b2c10")

# The demo organisation that runs the specialist employment advice listings (Individual Placement and
# Support) in every town: its partner staff edit them, its advisers take the referrals routed to them.
STAFF_DEMO_ORGANISATION = "Somerset Working Well Partnership"
# "Demo Surgery": the GP practice of adjustments' demo suggestions and referrals' demo referrals.
DEMO_PRACTICE = uuid.UUID("d0000000-0000-4000-8000-00000000a001")
DEMO_PRACTICE_NAME = "Demo Surgery"
# The demo GP's sign-in: their token names them and their practice (`name`, `org_name`), as an identity provider's
# would, so other organisations read "Dr Demo Clinician (GP) at Demo Surgery", never the practice's id.
GP_TOKEN_COMMAND = (f"worklink token --role gp --org {DEMO_PRACTICE} --name 'Dr Demo Clinician' "
                    f"--org-name '{DEMO_PRACTICE_NAME}'")
# The directory's first listing pattern in each town, "Working Well employment advice in <town>", run by
# STAFF_DEMO_ORGANISATION and carrying the terms EMPLOYMENT_ADVICE_TERMS.
EMPLOYMENT_ADVICE_LISTING = 0
EMPLOYMENT_ADVICE_TERMS = ("employment-advice", "ips")


def adviser_token_command(organisation) -> str:
    """The demo employment adviser's sign-in (the one the demo referrals are assigned to), named as GP_TOKEN_COMMAND
    names the GP."""
    return (f"worklink token --role adviser --org {organisation} --sub demo-adviser --name 'Demo Adviser' "
            f"--org-name '{STAFF_DEMO_ORGANISATION}'")


def term_id(code: str) -> str:
    """A demo taxonomy term's id."""
    return str(uuid.uuid5(NS, f"term:{code}"))


def organisation_id(name: str) -> str:
    """A demo organisation's id (the same on every load), as its partner staff sign in with it."""
    return str(uuid.uuid5(NS, f"org:{name}"))


def service_id(town: str, listing: int, copy: int = 0) -> str:
    """The id of a town's demo listing (`listing`: its pattern's place in the directory's list; `copy`: the
    copies of a bigger directory for benchmarks)."""
    return str(uuid.uuid5(NS, f"service:{copy}:{town}:{listing}"))


def employment_advice_service_id(town: str) -> uuid.UUID:
    """The town's specialist employment advice listing (every town with advisers in the demo has one)."""
    return uuid.UUID(service_id(town, EMPLOYMENT_ADVICE_LISTING))
