"""The guidance knowledge base: ranked search for clinicians, versioned edits for alliance admins."""

from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView

from worklink.auth import current_principal, requires
from worklink.problems import Problem
from worklink.web import service_context
from worklink.web.blueprint import Blueprint
from worklink_adjustments import knowledge
from worklink_adjustments.models import (Adjustment, Condition, GuidanceRule, GuidanceVersion, Limitation,
                                         PhraseTemplate, Source, WorkFunction)
from worklink_adjustments.schemas import (FOR_NOTHING, AdjustmentOutSchema, AdjustmentPatchSchema,
                                          AdjustmentReviewSchema, AdjustmentSchema, CatalogueSchema,
                                          ConditionPatchSchema, ConditionSchema, GuidanceQuery, LimitationInSchema,
                                          LimitationOutSchema, LimitationPatchSchema, PhraseInSchema, PhraseOutSchema,
                                          PhrasePatchSchema, ReviewReportSchema, RuleOutSchema, RulePatchSchema,
                                          RuleReviewSchema, RuleSchema, SearchResultSchema, VersionListSchema,
                                          WorkFunctionInSchema, WorkFunctionPatchSchema, WorkFunctionSchema)

blp = Blueprint("guidance", __name__, url_prefix="/guidance", description="Reasonable-adjustment guidance")
READERS = ("gp", "adviser", "org_admin", "alliance_admin")
MAX_ID = 2**31 - 1  # rule ids are int4 on PostgreSQL: a larger one cannot exist (and overflowed to a 500)


def reading():
    """A read-only session: guidance reads are not audited, so they need no write transaction
    (on SQLite that would queue them behind every suggestion being written)."""
    return service_context().database.sessions()


def index(session) -> knowledge.GuidanceIndex:
    return current_app.extensions["adjustments_index"].get(session)


def search(session, args) -> knowledge.SearchResult:
    guidance = index(session)
    unknown = [(f"/{name}", value) for name, value, known in (
        ("condition", args.get("condition"), guidance.conditions), ("task", args.get("task"), guidance.work_functions))
        if value and value not in known]
    unknown += [("/limitation", value) for value in args.get("limitation", []) if value not in guidance.limitations]
    if unknown:
        raise Problem(422, "Unknown guidance ids in the query.", errors=[
            {"location": "query", "pointer": pointer, "detail": f"No {pointer[1:]} {value!r} in the library."}
            for pointer, value in unknown])
    return guidance.search(condition=args.get("condition"), limitations=args.get("limitation", []),
                           task=args.get("task"), text=args.get("q"), limit=args["limit"], offset=args["offset"])


@blp.route("/search")
class Search(MethodView):
    @requires(*READERS)
    @blp.arguments(GuidanceQuery, location="query")
    @blp.response(200, SearchResultSchema)
    def get(self, args):
        """Adjustments for a condition, limitations, a job task or free text, best first."""
        with reading() as session:
            return search(session, args)


@blp.route("/catalogue")
class Catalogue(MethodView):
    @requires(*READERS)
    @blp.response(200, CatalogueSchema)
    def get(self):
        """Conditions, functional limitations, job tasks and phrase templates of the current version."""
        with reading() as session:
            guidance = index(session)
            return {"guidance_version": guidance.version, "conditions": list(guidance.conditions.values()),
                    "limitations": list(guidance.limitations.values()),
                    "work_functions": list(guidance.work_functions.values()), "phrases": guidance.phrases}


@blp.route("/adjustments")
class Adjustments(MethodView):
    @requires("alliance_admin")
    @blp.arguments(AdjustmentSchema)
    @blp.response(201, AdjustmentOutSchema)
    def post(self, data):
        """Add an adjustment to the library (a new guidance version)."""
        with service_context().database.transaction() as session:
            if session.get(Adjustment, data["id"]):
                raise Problem(409, f"Adjustment {data['id']!r} already exists.")
            _check_wording(session, {"title": data["title"], "employer_text": data["employer_text"]})
            _check_id(session, data["id"], "/id")
            if data.get("review_status", "published") in knowledge.LIVE_STATUSES:
                _check_name_free(session, Adjustment, data["title"], "adjustment", column="title", live_only=True)
            version = knowledge.bump_version(session, current_principal().subject, f"add adjustment {data['id']}")
            adjustment = Adjustment(**data, revision=1, updated_in_version=version)
            session.add(adjustment)
            return adjustment


def _check_wording(session, wording: dict[str, str | None]) -> None:
    """Library wording is printed for any patient it is chosen for, most of whom keep their diagnosis
    from their employer: it says what the employer provides or does, never what the person has or goes
    through (the same terms as ids: knowledge.need_terms)."""
    pattern = knowledge.library_need_pattern(session)
    errors = [{"location": "json", "pointer": f"/{name}",
               "detail": f"This names {', '.join(repr(n) for n in found)}, a condition in the library or a clinical "
                         "word that reveals a health need. Say what the employer provides or does, and why, instead."}
              for name, text in wording.items() if text and (found := knowledge.named_conditions(text, pattern))]
    if errors:
        raise Problem(422, "Library wording must not name a condition or a health need.", errors=errors)


def _check_id(session, adjustment_id: str, pointer: str, location: str = "json") -> None:
    """A live adjustment's id goes into broadcast events that any consumer reads beside a suggestion:
    it may name the adjustment, never a condition. (A retired one that does, kept as history, can be
    edited but not made live again.)"""
    found = knowledge.named_in_id(adjustment_id, knowledge.library_need_pattern(session))
    if found:
        raise Problem(422, "An adjustment id must not name a condition.", errors=[{
            "location": location, "pointer": pointer,
            "detail": f"The id {adjustment_id!r} names {', '.join(repr(n) for n in found)}, a condition in the library "
                      "(or a word that gives one away), and broadcast events carry it. Name the adjustment instead."}])


def _adjustment(session, adjustment_id: str, for_update: bool = False) -> Adjustment:
    adjustment = session.get(Adjustment, adjustment_id, with_for_update=for_update)
    if adjustment is None:
        raise Problem(404, f"No adjustment {adjustment_id!r}.")
    return adjustment


def _rule(session, rule_id: int, for_update: bool = True) -> GuidanceRule:
    """A rule (to change: locked until the transaction ends)."""
    rule = session.get(GuidanceRule, rule_id, with_for_update=for_update)
    if rule is None:
        raise Problem(404, f"No rule {rule_id}.")
    return rule


def _check_revision(entry, read: int, label: str, doing: str) -> None:
    """An edit or a review is of the entry (a rule, a limitation, wording) as it was read: one changed since (another
    admin's edit) is a 409, or an edit would overwrite it unseen and a review mark words reviewed that its reviewer
    never read."""
    if read != entry.revision:
        raise Problem(409, f"The {label} changed since you read it; read it again before you {doing}.",
                      current_revision=entry.revision)


@blp.route("/adjustments/<adjustment_id>")
class AdjustmentItem(MethodView):
    @requires(*READERS)
    @blp.response(200, AdjustmentOutSchema)
    def get(self, adjustment_id):
        with reading() as session:
            return _adjustment(session, adjustment_id)

    @requires("alliance_admin")
    @blp.arguments(AdjustmentPatchSchema(partial=True))
    @blp.response(200, AdjustmentOutSchema)
    def patch(self, data, adjustment_id):
        """Edit an adjustment; send the `revision` you read (409 if someone else changed it)."""
        with service_context().database.transaction() as session:
            adjustment = _adjustment(session, adjustment_id, for_update=True)
            if "revision" not in data:
                raise Problem(422, "Send the revision you read.", errors=[
                    {"location": "json", "pointer": "/revision", "detail": "Missing data for required field."}])
            if data.pop("revision") != adjustment.revision:
                raise Problem(409, "The adjustment changed since you read it.", current_revision=adjustment.revision)
            _check_wording(session, {name: data.get(name) for name in ("title", "employer_text")})
            if data.get("review_status", adjustment.review_status) in knowledge.LIVE_STATUSES:
                _check_id(session, adjustment_id, *(("/review_status",) if "review_status" in data
                                                    else ("/adjustment_id", "path")))
                _check_name_free(session, Adjustment, data.get("title", adjustment.title), "adjustment", adjustment_id,
                                 column="title", live_only=True)
            version = knowledge.bump_version(session, current_principal().subject, f"edit adjustment {adjustment_id}")
            changed = [n for n, v in data.items() if n in knowledge.REVIEW_CONTENT and getattr(adjustment, n) != v]
            for name, value in data.items():
                setattr(adjustment, name, value)
            if adjustment.review_status == knowledge.REVIEWED and changed:
                adjustment.review_status = "published"  # new wording has not been reviewed
            if adjustment.review_status != knowledge.REVIEWED:
                knowledge.clear_review(adjustment)
            adjustment.revision += 1
            adjustment.updated_in_version = version
            return adjustment


@blp.route("/rules")
class Rules(MethodView):
    @requires("alliance_admin")
    @blp.arguments(RuleSchema)
    @blp.response(201, RuleOutSchema)
    def post(self, data):
        """Add a guidance rule: limitation (optionally condition or job task) -> adjustment."""
        with service_context().database.transaction() as session:
            missing = [(f"/{field}", model) for field, model in (
                ("limitation_id", Limitation), ("adjustment_id", Adjustment), ("condition_id", Condition),
                ("work_function_id", WorkFunction)) if data.get(field) and session.get(model, data[field]) is None]
            missing += [(f"/source_ids/{i}", Source) for i, source_id in enumerate(data["source_ids"])
                        if session.get(Source, source_id) is None]  # a rule cites only what the library holds
            if missing:
                raise Problem(422, "The rule refers to ids not in the library.", errors=[
                    {"location": "json", "pointer": p, "detail": "Not in the library."} for p, _ in missing])
            knowledge.bump_version(session, current_principal().subject, f"add rule for {data['adjustment_id']}")
            rule = GuidanceRule(**data)
            session.add(rule)
            session.flush()
            return rule


@blp.route(f"/rules/<int(min=1, max={MAX_ID}):rule_id>")
class RuleItem(MethodView):
    @requires(*READERS)
    @blp.response(200, RuleOutSchema)
    def get(self, rule_id):
        """A rule as it stands (what a clinical reviewer reads), with the `revision` an edit or a review sends."""
        with reading() as session:
            return _rule(session, rule_id, for_update=False)

    @requires("alliance_admin")
    @blp.arguments(RulePatchSchema)
    @blp.response(200, RuleOutSchema)
    def patch(self, data, rule_id):
        """Change a rule's priority, rationale or review status (retire it with `retired`); send the `revision` you
        read (409 if someone else changed it)."""
        with service_context().database.transaction() as session:
            rule = _rule(session, rule_id)
            _check_revision(rule, data.pop("revision"), "rule", "change it")
            knowledge.bump_version(session, current_principal().subject, f"edit rule {rule_id}")
            changed = [n for n in ("priority", "rationale") if n in data and getattr(rule, n) != data[n]]
            for name, value in data.items():
                setattr(rule, name, value)
            if rule.review_status == knowledge.REVIEWED and changed:
                rule.review_status = "published"  # the changed rule has not been reviewed
            if rule.review_status != knowledge.REVIEWED:
                knowledge.clear_review(rule)
            rule.revision += 1
            return rule


# --- clinical review (alliance admins record it; nothing is reviewed until they do) -------------


@blp.route("/adjustments/<adjustment_id>/clinical-review")
class AdjustmentReview(MethodView):
    @requires("alliance_admin")
    @blp.arguments(AdjustmentReviewSchema)
    @blp.response(200, AdjustmentOutSchema)
    def post(self, data, adjustment_id):
        """Record that you clinically reviewed this adjustment as it stands (send the `revision` you
        reviewed). Who and when are kept; editing its wording later makes it unreviewed again."""
        with service_context().database.transaction() as session:
            adjustment = _adjustment(session, adjustment_id, for_update=True)
            if data["revision"] != adjustment.revision:
                raise Problem(409, "The adjustment changed since you read it; review the current wording.",
                              current_revision=adjustment.revision)
            if adjustment.review_status == "retired":
                raise Problem(409, "A retired adjustment is not used; there is nothing to review.")
            knowledge.mark_reviewed(session, adjustment, current_principal().subject)
            return adjustment


@blp.route(f"/rules/<int(min=1, max={MAX_ID}):rule_id>/clinical-review")
class RuleReview(MethodView):
    @requires("alliance_admin")
    @blp.arguments(RuleReviewSchema)
    @blp.response(200, RuleOutSchema)
    def post(self, data, rule_id):
        """Record that you clinically reviewed this rule as it stands (send the `revision` you reviewed: 409 if its
        rationale or priority changed since). Who and when are kept; editing it later makes it unreviewed again."""
        with service_context().database.transaction() as session:
            rule = _rule(session, rule_id)
            _check_revision(rule, data["revision"], "rule", "record a review of it")
            if rule.review_status == "retired":
                raise Problem(409, "A retired rule is not used; there is nothing to review.")
            knowledge.mark_reviewed(session, rule, current_principal().subject)
            return rule


@blp.route("/review-report")
class ReviewReport(MethodView):
    @requires("alliance_admin")
    @blp.response(200, ReviewReportSchema)
    def get(self):
        """What in the live library is not yet clinically reviewed (also `worklink adjustments review-report`)."""
        with service_context().database.transaction() as session:
            return knowledge.review_report(session)


@blp.route("/conditions")
class Conditions(MethodView):
    @requires("alliance_admin")
    @blp.arguments(ConditionSchema)
    @blp.response(201, ConditionSchema)
    def post(self, data):
        """Add a condition and the functional limitations it usually brings."""
        with service_context().database.transaction() as session:
            return _add_entry(session, Condition, data, "condition",
                              check=lambda: _check_limitations(session, data["limitation_ids"]))


def _add_entry(session, model, data: dict, label: str, check: Callable[[], None] = lambda: None):
    """A new library entry under a new guidance version: an id or a name already taken is a 409, then `check`."""
    if session.get(model, data["id"]):
        raise Problem(409, f"{label.capitalize()} {data['id']!r} already exists.")
    _check_name_free(session, model, data["name"], label)
    check()
    knowledge.bump_version(session, current_principal().subject, f"add {label} {data['id']}")
    entry = model(**data)
    session.add(entry)
    return entry


def _entry(session, model, entry_id: str | int, label: str, for_update: bool = False):
    entry = session.get(model, entry_id, with_for_update=for_update)
    if entry is None:
        raise Problem(404, f"No {label} {entry_id!r}.")
    return entry


def _edit_entry(session, model, entry_id: str | int, data: dict, label: str,
                check: Callable[[], None] = lambda: None, revised: bool = False):
    """Changed fields of a library entry under a new guidance version: an unknown id is a 404, then (an entry with a
    `revision`, `revised`: the `revision` in `data` is the one read, 409 if it changed since) `check`."""
    entry = _entry(session, model, entry_id, label, for_update=True)
    if revised:
        _check_revision(entry, data.pop("revision"), label, "change it")
    if "name" in data:
        _check_name_free(session, model, data["name"], label, entry_id)
    check()
    knowledge.bump_version(session, current_principal().subject, f"edit {label} {entry_id}")
    for name, value in data.items():
        setattr(entry, name, value)
    if revised:
        entry.revision += 1
    return entry


def _same_name(text: str) -> str:
    return " ".join(text.casefold().split())


def _check_name_free(session, model, name: str, label: str, own_id: str | None = None,
                     column: str = "name", live_only: bool = False) -> None:
    """Clinicians choose library entries by name from a list: two of one kind under one name (in any case or
    spacing) could not be told apart, and the one chosen might not carry the rules meant. A 409 naming the other.
    `live_only`: only live entries count (a retired adjustment's title may be used again)."""
    query = sa.select(model.id, getattr(model, column))
    if own_id is not None:
        query = query.where(model.id != own_id)
    if live_only:
        query = query.where(model.review_status.in_(knowledge.LIVE_STATUSES))
    wanted = _same_name(name)
    for other_id, other_name in session.execute(query):
        if _same_name(other_name) == wanted:
            raise Problem(409, f"The library already has a {label} named {other_name!r} ({other_id!r}).", errors=[{
                "location": "json", "pointer": f"/{column}",
                "detail": f"{label.capitalize()} {other_id!r} is named {other_name!r}: choose another name, or edit "
                          "that one."}])


def _check_limitations(session, limitation_ids: list[str]) -> None:
    known = set(session.scalars(sa.select(Limitation.id)))
    unknown = [i for i, lid in enumerate(limitation_ids) if lid not in known]
    if unknown:
        raise Problem(422, "Unknown limitations.", errors=[
            {"location": "json", "pointer": f"/limitation_ids/{i}", "detail": "Not in the library."} for i in unknown])


@blp.route("/conditions/<condition_id>")
class ConditionItem(MethodView):
    @requires("alliance_admin")
    @blp.arguments(ConditionPatchSchema)
    @blp.response(200, ConditionSchema)
    def patch(self, data, condition_id):
        """Rename a condition, change its synonyms or the limitations it usually brings (a new guidance version)."""
        with service_context().database.transaction() as session:
            return _edit_entry(session, Condition, condition_id, data, "condition",
                               check=lambda: _check_limitations(session, data["limitation_ids"])
                               if "limitation_ids" in data else None)


@blp.route("/limitations")
class Limitations(MethodView):
    @requires("alliance_admin")
    @blp.arguments(LimitationInSchema)
    @blp.response(201, LimitationOutSchema)
    def post(self, data):
        """Add a functional limitation (with optional ICF codes); rules and conditions can then name it."""
        with service_context().database.transaction() as session:
            return _add_entry(session, Limitation, data, "limitation")


@blp.route("/limitations/<limitation_id>")
class LimitationItem(MethodView):
    @requires(*READERS)
    @blp.response(200, LimitationOutSchema)
    def get(self, limitation_id):
        """A functional limitation as it stands, with the `revision` an edit sends."""
        with reading() as session:
            return _entry(session, Limitation, limitation_id, "limitation")

    @requires("alliance_admin")
    @blp.arguments(LimitationPatchSchema)
    @blp.response(200, LimitationOutSchema)
    def patch(self, data, limitation_id):
        """Rename a limitation, change its domain, description or ICF codes (a new guidance version); send the
        `revision` you read (409 if someone else changed it)."""
        with service_context().database.transaction() as session:
            return _edit_entry(session, Limitation, limitation_id, data, "limitation", revised=True)


@blp.route("/work-functions")
class WorkFunctions(MethodView):
    @requires("alliance_admin")
    @blp.arguments(WorkFunctionInSchema)
    @blp.response(201, WorkFunctionSchema)
    def post(self, data):
        """Add a job task (work function, with its O*NET element id if one fits); rules and suggestions can then name it."""
        with service_context().database.transaction() as session:
            return _add_entry(session, WorkFunction, data, "job task")


@blp.route("/work-functions/<work_function_id>")
class WorkFunctionItem(MethodView):
    @requires("alliance_admin")
    @blp.arguments(WorkFunctionPatchSchema)
    @blp.response(200, WorkFunctionSchema)
    def patch(self, data, work_function_id):
        """Rename a job task, change its O*NET element id or the examples search reads (a new guidance version)."""
        with service_context().database.transaction() as session:
            return _edit_entry(session, WorkFunction, work_function_id, data, "job task")


@blp.route("/phrases")
class Phrases(MethodView):
    @requires("alliance_admin")
    @blp.arguments(PhraseInSchema)
    @blp.response(201, PhraseOutSchema)
    def post(self, data):
        """Add ready wording for the fit note's comments box, for a limitation or an adjustment."""
        with service_context().database.transaction() as session:
            _check_phrase(session, data)
            knowledge.bump_version(session, current_principal().subject, "add phrase template")
            phrase = PhraseTemplate(**data)
            session.add(phrase)
            session.flush()  # its id and revision, for an edit
            return phrase


def _check_phrase(session, data: dict) -> None:
    """Wording names only what the library holds, and (printed for any patient) no condition or health need."""
    missing = [f"/{field}" for field, model in (("limitation_id", Limitation), ("adjustment_id", Adjustment))
               if data.get(field) and session.get(model, data[field]) is None]
    if missing:
        raise Problem(422, "The wording refers to ids not in the library.", errors=[
            {"location": "json", "pointer": p, "detail": "Not in the library."} for p in missing])
    if "text" in data:
        _check_wording(session, {"text": data["text"]})


@blp.route(f"/phrases/<int(min=1, max={MAX_ID}):phrase_id>")
class PhraseItem(MethodView):
    @requires(*READERS)
    @blp.response(200, PhraseOutSchema)
    def get(self, phrase_id):
        """Ready wording as it stands, with the `revision` an edit sends."""
        with reading() as session:
            return _entry(session, PhraseTemplate, phrase_id, "phrase template")

    @requires("alliance_admin")
    @blp.arguments(PhrasePatchSchema)
    @blp.response(200, PhraseOutSchema)
    def patch(self, data, phrase_id):
        """Reword ready wording, or change the limitation or adjustment it is for (a new guidance version); send the
        `revision` you read (409 if someone else changed it)."""
        with service_context().database.transaction() as session:
            def check() -> None:
                phrase = session.get(PhraseTemplate, phrase_id)
                if not any(data.get(field, getattr(phrase, field)) for field in ("limitation_id", "adjustment_id")):
                    raise Problem(422, "The wording must be for a limitation or an adjustment.", errors=[
                        {"location": "json", "pointer": "/limitation_id", "detail": FOR_NOTHING}])
                _check_phrase(session, data)

            return _edit_entry(session, PhraseTemplate, phrase_id, data, "phrase template", check=check, revised=True)


@blp.route("/versions")
class Versions(MethodView):
    @requires(*READERS)
    @blp.response(200, VersionListSchema)
    def get(self):
        """Every guidance version, newest first."""
        with reading() as session:
            rows = session.scalars(sa.select(GuidanceVersion).order_by(GuidanceVersion.version.desc())).all()
            return {"items": [{"version": v.version, "published_at": v.published_at,
                               "published_by": v.published_by, "change": v.change} for v in rows]}
