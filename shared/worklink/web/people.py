"""A person's rights over HTTP, as every service with `/people` answers them (referrals, adjustments): the
API's 404 when nothing is held, and the pages an admin answers a subject access or erasure request with.

The pages find a person from a posted lookup (never in an address: every form carries it in hidden fields),
show what is held as tables of codes and dates, offer the subject access export as a download, and erase on
request (UK GDPR Article 17) only after the reason and a confirmation page. The flow and its audit are the
same everywhere; a service gives its own use cases (its rights.py) and words (PersonRightsPages).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Iterator, Mapping

from flask import Blueprint, Response, current_app, request
from marshmallow import Schema
from sqlalchemy.orm import Session

from worklink.auth import requires
from worklink.events.catalogue import to_json_types
from worklink.problems import Problem
from worklink.retention import ERASURE_REASON_WORDS, NothingHeld
from worklink.web.app import service_context

Lookup = dict[str, Any]  # the person asked for, as the service's lookup schema loads it
REASONS = ERASURE_REASON_WORDS  # Article 17(1) UK GDPR grounds, in words
NO_REASON = "Select why they asked for their details to be erased"
ROLES = {"gp": "GP", "org_admin": "Organisation admin"}


@contextmanager
def nothing_held(detail: str) -> Iterator[None]:
    """A use case that finds nothing about the person becomes a 404 problem saying `detail`."""
    try:
        yield
    except NothingHeld:
        raise Problem(404, detail) from None


@dataclass(frozen=True)
class PersonRightsPages:
    """A service's /people pages: its words and use cases; register() adds the routes to its pages.

    Each use case runs in a transaction the pages open, and raises NothingHeld when nothing is held (the
    find page then says `nothing_held`, 404). The service's templates (in `templates/`) extend the shared
    worklink/people_*.html ones with their own words."""

    service: str  # names the download: subject-access-<service>-<date>.json
    who: str  # "person", "patient": the pages' word for them
    roles: tuple[str, ...]
    templates: str  # the folder of its people_find.html, people_held.html, people_erasure_confirm.html
    nothing_held: str
    render: Callable[..., Any]  # (template, status, **context) -> the page response
    lookup: Callable[[Mapping[str, str]], tuple[Lookup, dict[str, list[str]]]]  # the person, or the errors
    subject_access: Callable[[Session, Lookup, str], dict[str, Any]]  # the export body, audited as the action
    summary: Callable[[Lookup, dict[str, Any]], dict[str, Any]]  # the held page's context: person, kinds
    confirmation: Callable[[Session, Lookup, str], dict[str, Any]]  # the confirm page's (reads audited)
    erase: Callable[[Session, Lookup, str], dict[str, Any]]  # erases; the erased page's table
    export: Schema  # the subject access export's schema, as the API's response
    today: Callable[[], date]  # the UK date, for the download's name

    def register(self, pages: Blueprint) -> None:
        guard = requires(*self.roles)
        pages.get("/people")(guard(self.people_find))
        pages.post("/people")(guard(self.people_found))
        pages.post("/people/download")(guard(self.people_download))
        pages.post("/people/erase")(guard(self.people_erasure))

    def people_find(self):
        return self._find_page()

    def people_found(self):
        """What is held about the person, in a readable summary (each record's read audited)."""
        return self._for_lookup(self._held_page)

    def people_download(self):
        """The subject access export as a JSON attachment: POST /people/subject-access's body and audit."""
        return self._for_lookup(self._download)

    def people_erasure(self):
        """Erasure in steps: the reason (radios), then a confirmation page, then the erasure itself - only from
        the confirmation page's form (step "confirm"); any other post erases nothing."""
        return self._for_lookup(self._erasure_step)

    def _for_lookup(self, answer: Callable[[Lookup], Any]):
        lookup, errors = self.lookup(request.form)
        if errors:
            return self._find_page(422, errors)
        try:
            return answer(lookup)
        except NothingHeld:
            return self._find_page(404, {next(iter(lookup)): [self.nothing_held]})

    def _use(self, use_case: Callable[..., dict[str, Any]], *args) -> dict[str, Any]:
        with service_context().database.transaction() as session:
            return use_case(session, *args)

    def _held_page(self, lookup: Lookup):
        body = self._use(self.subject_access, lookup, "read")
        return self._page("people_held.html", lookup, **self.summary(lookup, body))

    def _download(self, lookup: Lookup) -> Response:
        body = self._use(self.subject_access, lookup, "export")
        name = f"subject-access-{self.service}-{self.today().isoformat()}.json"
        return Response(current_app.json.dumps(self.export.dump(to_json_types(body))), mimetype="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    def _erasure_step(self, lookup: Lookup):
        step, reason = request.form.get("step", ""), request.form.get("reason", "")
        if step not in ("reason", "confirm"):
            return self._reason_page(lookup)
        if reason not in dict(REASONS):
            return self._reason_page(lookup, {"reason": [NO_REASON]}, 422)
        if step == "reason":
            return self._page("people_erasure_confirm.html", lookup, reason,
                              **self._use(self.confirmation, lookup, reason))
        return self._render("worklink/people_erased.html", reason_words=dict(REASONS)[reason],
                            erased=self._use(self.erase, lookup, reason))

    def _find_page(self, status: int = 200, errors=None):
        return self._render(f"{self.templates}/people_find.html", status, errors=errors or {}, values=request.form)

    def _reason_page(self, lookup: Lookup, errors=None, status: int = 200):
        return self._render("worklink/people_erasure_reason.html", status, lookup=hidden_fields(lookup),
                            reasons=REASONS, errors=errors or {}, values=request.form)

    def _page(self, template: str, lookup: Lookup, reason: str | None = None, **context):
        words = {"reason": reason, "reason_words": dict(REASONS)[reason]} if reason else {}
        return self._render(f"{self.templates}/{template}", lookup=hidden_fields(lookup), **words, **context)

    def _render(self, template: str, status: int = 200, **context):
        return self.render(template, status, who=self.who, **context)


def hidden_fields(lookup: Lookup) -> dict[str, str]:
    """The lookup as the hidden fields of the next form."""
    return {name: str(value) for name, value in lookup.items()}


# --- what is held, as the summary page shows it: codes and dates, never what a record says --------------


def table(id: str, heading: str, columns: tuple[str, ...], rows: list[tuple]) -> dict[str, Any]:
    """One kind of record held (or erased), as the pages' tables show it."""
    return {"id": id, "heading": heading, "columns": columns, "rows": rows}


def person_summary(people: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Just enough to tell it is the right person: the names and dates of birth their records hold."""
    people = list(people)
    names = dict.fromkeys(f"{p['given_name']} {p['family_name']}" for p in people if p["given_name"])
    births = dict.fromkeys(p["birth_date"].strftime("%d %B %Y") for p in people if p["birth_date"])
    return {"names": list(names), "birth_dates": list(births)}


def role_words(role: str | None) -> str:
    return ROLES.get(role or "", code_words(role))


def code_words(code: str | None) -> str:
    """A code in words: "no_answer" reads "No answer"."""
    return (code or "").replace("_", " ").capitalize()
