"""Audit trail of every access to a person's record.

`AuditTrail.record` writes in the caller's transaction, so a read that cannot be
audited returns nothing (fail closed), and a change is audited exactly when it
commits. `record_many` writes several entries (a listed page of records) in one
statement.

A refused attempt is audited too (action "denied"): a signed-in caller who gets a 403 or
404 from a view marked `@person_record(...)` - another organisation's record, the wrong
role, or an id that does not exist. The view's own transaction has rolled back by then, so
`record_refusal` writes the entry in a transaction of its own after the response is built.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from flask import Response, g, has_request_context, request
from sqlalchemy.orm import Session

from worklink.auth import Principal, current_principal
from worklink.context import request_id_var
from worklink.db import DATABASE_OUTAGES, Database, PlatformTables, utcnow

log = logging.getLogger("worklink.audit")

# erase: a person's details removed from a record (retention, a request), the record kept
ACTIONS = ("read", "list", "create", "update", "delete", "erase", "export", "share", "denied")
REFUSALS = (403, 404)


def person_record(resource_type: str, id_arg: str) -> Callable:
    """Mark a view function or MethodView class that addresses one person's record by its URL
    argument `id_arg`, so that a refused attempt at it is audited (`AuditTrail.record_refusal`)."""
    def mark(view: Callable) -> Callable:
        view.worklink_person_record = (resource_type, id_arg)
        return view
    return mark


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

    def record_refusal(self, database: Database, mark: tuple[str, str] | None, response: Response) -> None:
        """Audit a refused attempt at a `person_record` view's record, in a transaction of its own.

        Anonymous callers are not audited here (there is nobody to name; the request log has
        them). If the database cannot take the entry the refusal still stands, and the log says so.
        """
        principal = current_principal()
        if mark is None or principal is None or response.status_code not in REFUSALS:
            return
        resource_type, id_arg = mark
        resource_id = (request.view_args or {}).get(id_arg)
        if resource_id is None:
            return
        route = request.url_rule.rule if request.url_rule else request.path
        try:
            with database.transaction() as session:
                self.record(session, action="denied", resource_type=resource_type, resource_id=str(resource_id),
                            purpose=f"{request.method} {route} -> {response.status_code}", principal=principal)
        except DATABASE_OUTAGES:
            log.error("refused access not audited: database unavailable",
                      extra={"resource_type": resource_type, "status": response.status_code}, exc_info=True)
