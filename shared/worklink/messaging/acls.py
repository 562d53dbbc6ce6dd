"""Kafka ACLs for least privilege, planned from what each service publishes and handles.

Each service connects as its own principal and may only:
- WRITE the topics of the events it publishes (its outbox relay; an idempotent producer needs no more
  since Kafka 3.0),
- READ the topics of the events it handles, with its own consumer group, and WRITE their dead-letter
  topics (its consumer dead-letters what it cannot handle).
A restricted topic (a person's details) is therefore read by exactly its declared reader: the plan is
refused otherwise. The operator principal (`worklink dlt list|redrive`) reads the dead letters of
broadcast topics and their topics, and writes them back (and its receipts on the dead-letter topic); a restricted topic's dead letters hold a person's details, so
only the cluster's super user re-drives them. Creating topics and managing ACLs is the super user's too.

`worklink kafka-acls` prints the plan and, with --apply, creates what is missing (--prune also removes
grants the plan no longer has, for the principals it names).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Mapping

from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern,
                         ResourcePatternFilter, ResourceType)

from worklink.events.catalogue import Catalogue
from worklink.messaging.consumer import DLT_SUFFIX, dlt_topic
from worklink.messaging.topics import TopicSpec, check_readers

DEFAULT_PRINCIPAL = "User:{service}"
DEFAULT_OPERATOR = "User:worklink-operator"


class AclPlanError(ValueError):
    """The services' roles break a rule of the plan (a restricted topic with another reader)."""


@dataclass(frozen=True)
class Role:
    """What one service does on Kafka: the event types it publishes and handles, and its group."""
    publishes: tuple[str, ...]
    handles: tuple[str, ...]
    group: str


@dataclass(frozen=True, order=True)
class Grant:
    principal: str
    resource: str  # "topic" or "group"
    name: str
    operation: str  # "read" or "write" (each implies "describe" in Kafka)

    def __str__(self) -> str:
        return f"{self.principal:28} {self.operation.upper():6} {self.resource} {self.name}"

    def acl(self) -> ACL:
        return ACL(principal=self.principal, host="*", operation=_OPERATIONS[self.operation],
                   permission_type=ACLPermissionType.ALLOW,
                   resource_pattern=ResourcePattern(_RESOURCES[self.resource], self.name,
                                                    ACLResourcePatternType.LITERAL))


_OPERATIONS = {"read": ACLOperation.READ, "write": ACLOperation.WRITE}
_RESOURCES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}


def roles_of_installed_services() -> dict[str, Role]:
    from worklink.service import installed_services

    return {name: Role(tuple(spec.publishes), tuple(spec.handlers), spec.group_id)
            for name, spec in installed_services().items()}


def plan(catalogue: Catalogue, specs: list[TopicSpec], roles: Mapping[str, Role], *,
         principal: str = DEFAULT_PRINCIPAL, operator: str | None = DEFAULT_OPERATOR) -> list[Grant]:
    """Every grant the services (and the operator) need, and nothing else."""
    problems = check_readers(catalogue, _restricted_in_plan(catalogue, specs, roles),
                             {role.group: role.handles for role in roles.values()})
    if problems:
        raise AclPlanError("; ".join(problems))
    grants: set[Grant] = set()
    for service, role in roles.items():
        who = principal.format(service=service)
        grants |= {Grant(who, "topic", topic, "write") for topic in _topics(catalogue, role.publishes)}
        read = _topics(catalogue, role.handles)
        grants |= {Grant(who, "topic", topic, "read") for topic in read}
        grants |= {Grant(who, "topic", dlt_topic(topic), "write") for topic in read}
        if read:
            grants.add(Grant(who, "group", role.group, "read"))
    if operator:
        for spec in specs:
            if not spec.restricted and not spec.name.endswith(DLT_SUFFIX):
                # It reads the topic too (a record whose re-driven copy is there is not sent twice), and
                # writes each re-drive's receipt (who, when, which records) on the dead-letter topic.
                dead_letters = dlt_topic(spec.name)
                grants |= {Grant(operator, "topic", dead_letters, "read"), Grant(operator, "topic", dead_letters, "write"),
                           Grant(operator, "topic", spec.name, "read"), Grant(operator, "topic", spec.name, "write")}
    return sorted(grants)


def _restricted_in_plan(catalogue: Catalogue, specs: list[TopicSpec], roles: Mapping[str, Role]) -> list[TopicSpec]:
    """The restricted topics whose readers this plan decides: those a planned service reads or is the declared
    reader of. Planning for one partner's service alone (its image installs no other) leaves the others' readers
    to their own plans, instead of refusing because nobody in it reads them."""
    groups = {role.group for role in roles.values()}
    read = _topics(catalogue, [t for role in roles.values() for t in role.handles])
    return [s for s in specs if s.restricted and (s.reader in groups or s.name in read)]


def _topics(catalogue: Catalogue, event_types: Iterable[str]) -> set[str]:
    return {catalogue.latest(t).topic for t in event_types if t in catalogue}


def existing(admin, principals: Iterable[str]) -> set[Grant]:
    """The ALLOW grants on topics and groups the cluster holds for `principals` (literal patterns)."""
    wanted = set(principals)
    found, error = admin.describe_acls(ACLFilter(
        principal=None, host="*", operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)))
    if error is not None and getattr(error, "errno", 0):
        raise RuntimeError(f"describing ACLs failed: {error}")
    names = {value: key for key, value in _OPERATIONS.items()}
    resources = {value: key for key, value in _RESOURCES.items()}
    held = set()
    for acl in found:  # kafka-python returns the codes as plain ints
        pattern = acl.resource_pattern
        operation, resource = ACLOperation(acl.operation), ResourceType(pattern.resource_type)
        if (acl.principal in wanted and ACLPermissionType(acl.permission_type) == ACLPermissionType.ALLOW
                and operation in names and resource in resources
                and ACLResourcePatternType(pattern.pattern_type) == ACLResourcePatternType.LITERAL):
            held.add(Grant(acl.principal, resources[resource], pattern.resource_name, names[operation]))
    return held


def apply(admin, grants: list[Grant], *, prune: bool = False) -> tuple[list[Grant], list[Grant]]:
    """Create the missing grants (and, with `prune`, delete the planned principals' others);
    returns (created, removed). Running it again changes nothing."""
    wanted = set(grants)
    held = existing(admin, {g.principal for g in grants})
    missing = sorted(wanted - held)
    extra = sorted(held - wanted) if prune else []
    if missing:
        result = admin.create_acls([g.acl() for g in missing])
        if result.get("failed"):
            raise RuntimeError(f"creating ACLs failed: {result['failed']}")
    if extra:
        admin.delete_acls([_exact(g) for g in extra])
    _wait_until_held(admin, wanted, set(extra))
    return missing, extra


def _wait_until_held(admin, wanted: set[Grant], removed: set[Grant], timeout: float = 30.0) -> None:
    """The controller has the change when the call returns; the broker's authorizer sees it a moment
    later. Return once it does, so a client started next is judged by the new grants."""
    principals = {g.principal for g in wanted | removed}
    deadline = time.monotonic() + timeout
    while True:
        held = existing(admin, principals)
        if wanted <= held and not held & removed:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not show the ACL change within {timeout:.0f} s")
        time.sleep(0.1)


def _exact(grant: Grant) -> ACLFilter:
    acl = grant.acl()
    return ACLFilter(principal=acl.principal, host="*", operation=acl.operation,
                     permission_type=ACLPermissionType.ALLOW,
                     resource_pattern=ResourcePatternFilter(acl.resource_pattern.resource_type,
                                                            acl.resource_pattern.resource_name,
                                                            ACLResourcePatternType.LITERAL))
