"""The in-app inbox: GET /inbox per user, organisation or alliance; unread counts; mark read."""

from __future__ import annotations

import uuid

from flask import current_app
from flask.views import MethodView

from worklink.auth import authenticate, requires
from worklink.db import utcnow
from worklink.web import Problem, service_context
from worklink.web.blueprint import Blueprint
from worklink_notifications import inbox
from worklink_notifications.schemas import InboxItem, InboxPage, InboxQuery, MarkAllRead, MarkedRead, UnreadCounts

blp = Blueprint("inbox", __name__, url_prefix="/inbox", description="Your in-app inbox.")


def reference_keys() -> tuple[str, ...]:
    """The keys of the clinician references a user's inbox also answers to (worklink.pseudonyms): the
    current one and those a rotation retired."""
    return current_app.config["CLINICIAN_REFERENCE_KEYS"]


def _owner(scope: str) -> inbox.InboxOwner:
    try:
        return inbox.owner_for(authenticate(), scope, reference_keys())
    except inbox.NotYours as exc:
        raise Problem(403, str(exc)) from None


@blp.route("")
class Inbox(MethodView):
    @requires()
    @blp.arguments(InboxQuery, location="query")
    @blp.response(200, InboxPage)
    def get(self, query):
        """Your inbox (scope=user), your organisation's (organisation) or the alliance's (alliance)."""
        owner = _owner(query["scope"])
        with service_context().database.sessions() as session:
            items, total = inbox.items(session, owner, query["unread"], query["limit"], query["offset"])
            unread = inbox.unread(session, owner)
            # Taken after the reads: every item listed or counted had arrived by then.
            return {"scope": query["scope"], "items": items, "total": total, "unread": unread, "as_of": utcnow()}


@blp.route("/unread-counts")
class UnreadCountsView(MethodView):
    @requires()
    @blp.response(200, UnreadCounts)
    def get(self):
        """Unread items in each inbox you may read."""
        principal = authenticate()
        with service_context().database.sessions() as session:
            return {owner.kind: inbox.unread(session, owner) for owner in inbox.owners_for(principal, reference_keys())}


@blp.route("/<uuid:item_id>/read")
class MarkRead(MethodView):
    @requires()
    @blp.response(200, InboxItem)
    def post(self, item_id: uuid.UUID):
        """Mark an item read (an organisation's item is read for the whole team)."""
        with service_context().database.transaction() as session:
            item = inbox.mark_read(session, authenticate(), item_id, reference_keys())
        if item is None:
            raise Problem(404, f"No inbox item {item_id} in any inbox you may read.")
        return item


@blp.route("/read")
class MarkAll(MethodView):
    @requires()
    @blp.arguments(MarkAllRead)
    @blp.response(200, MarkedRead)
    def post(self, body):
        """Mark every item in one of your inboxes read (with `up_to`, every item that had arrived by then)."""
        owner = _owner(body["scope"])
        with service_context().database.transaction() as session:
            return {"marked": inbox.mark_all_read(session, owner, up_to=body["up_to"])}
