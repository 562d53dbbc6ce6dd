"""Audit trail of every access to a person's record.

`AuditTrail.record` writes in the caller's transaction, so a read that cannot be
audited returns nothing (fail closed), and a change is audited exactly when it
commits. `record_many` writes several entries (a listed page of records) in one
statement.
"""

from __future__ import annotations

from typing import Iterable

from flask import g, has_request_context
from sqlalchemy.orm import Session

from worklink.auth import Principal, current_principal
from worklink.context import request_id_var
from worklink.db import PlatformTables, utcnow

ACTIONS = ("read", "list", "create", "update", "delete", "export", "share")


class AuditTrail:
    def __init__(self, tables: PlatformTables):
        self.table = tables.audit_log
        # Built once and executed with parameters: `insert().values(...)` per entry costs
        # several times more than the insert itself.
        self._insert = self.table.insert()

    def record(self, session: Session, *, action: str, resource_type: str, resource_id: str,
               person_id: str | None = None, purpose: str | None = None,
               principal: Principal | None = None) -> None:
        self.record_many(session, action=action, resource_type=resource_type,
                         records=[(resource_id, person_id)], purpose=purpose, principal=principal)

    def record_many(self, session: Session, *, action: str, resource_type: str,
                    records: Iterable[tuple[str, str | None]], purpose: str | None = None,
                    principal: Principal | None = None) -> None:
        """One entry per (resource_id, person_id), same actor and action, in one statement."""
        rows = self.rows(action=action, resource_type=resource_type, records=records, purpose=purpose,
                         principal=principal)
        if rows:
            session.execute(self._insert, rows[0] if len(rows) == 1 else rows)

    def rows(self, *, action: str, resource_type: str, records: Iterable[tuple[str, str | None]],
             purpose: str | None = None, principal: Principal | None = None) -> list[dict]:
        """The audit_log rows `record_many` writes, not yet written: for a caller that writes them
        together with its own rows in one statement (in the same transaction as the access)."""
        if action not in ACTIONS:
            raise ValueError(f"audit action must be one of {ACTIONS}")
        actor = principal or current_principal()
        if actor is None:
            raise RuntimeError("audit needs an authenticated principal (or pass principal=)")
        common = {
            "occurred_at": utcnow(),
            "actor": actor.subject,
            "actor_role": actor.role,
            "actor_org": actor.organisation,
            "action": action,
            "resource_type": resource_type,
            "purpose": purpose,
            "request_id": (g.get("request_id") if has_request_context() else None) or request_id_var.get(),
        }
        return [{**common, "resource_id": str(resource_id), "person_id": str(person_id) if person_id else None}
                for resource_id, person_id in records]
