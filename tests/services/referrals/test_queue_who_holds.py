"""A team lead triaging the queue sees on each listed referral who holds it, a hold's review date (overdue ones
marked) and a sustainment check due, and can list the unassigned and the held ones: the list gave none of it, so each
referral had to be opened. Only what the reader may already see (a due check: the adviser side alone, as the referral
page), and a page still costs a fixed few statements however many referrals it lists."""

from __future__ import annotations

import re
from datetime import timedelta

from worklink.auth import mint_token
from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS, nhs_number
from tests.services.referrals.statements import selects, statements

HTML = {"Accept": "text/html"}


def sam(h):
    """An adviser whose token names them, so their name is kept with the referrals they take on."""
    return {"Authorization": "Bearer " + mint_token(h.settings.jwt, role="adviser", org=ADVISERS,
                                                     subject="sam.p", name="Sam Patel")}


def lead(h):
    return h.token("org_admin", ADVISERS, "lead-1")


def team_queue(h, batch: int = 71) -> dict[str, str]:
    """Five referrals a minute apart, as a team lead meets them; returns their ids by what they are."""
    ids = {}
    for n, kind in enumerate(("new", "held_by_sam", "hold_overdue", "hold_later", "check_due")):
        h.clock.advance(minutes=1)
        created = h.refer({"nhs_number": nhs_number(n, batch), "given_name": f"{kind}{batch}"})
        assert created.status_code == 201, created.get_json()
        ids[kind] = created.get_json()["id"]
    assert h.act(ids["held_by_sam"], "accept", headers=sam(h), adviser_id="sam.p").status_code == 200
    soon, later = ((h.clock.now + timedelta(days=days)).date().isoformat() for days in (2, 126))
    for kind, review in (("hold_overdue", soon), ("hold_later", later)):
        assert h.act(ids[kind], "accept", adviser_id="adviser-1").status_code == 200
        assert h.act(ids[kind], "put_on_hold", reason="person_unwell", review_date=review).status_code == 200
    assert h.act(ids["check_due"], "accept", adviser_id="adviser-1").status_code == 200
    assert h.act(ids["check_due"], "make_first_contact").status_code == 200
    assert h.act(ids["check_due"], "record_outcome", type="job_start", occurred_on=h.clock.now.date().isoformat(),
                 hours_band="30_plus").status_code == 200
    h.clock.advance(days=92)  # 13 weeks and a day after the job start; the first hold's review has passed
    return ids


def by_id(items) -> dict[str, dict]:
    return {item["id"]: item for item in items}


def test_each_listed_referral_says_who_holds_it_its_hold_review_and_a_check_due(harness):
    h = harness
    ids = team_queue(h)
    items = by_id(h.client.get("/referrals?view=all", headers=lead(h)).get_json()["items"])
    assert items[ids["new"]]["assigned_adviser"] is None and items[ids["new"]]["assigned_adviser_name"] is None
    held = items[ids["held_by_sam"]]
    assert (held["assigned_adviser"], held["assigned_adviser_name"]) == ("sam.p", "Sam Patel")  # their own org
    assert items[ids["hold_overdue"]]["hold"] == {"review_date": "2026-11-25", "review_overdue": True}
    assert items[ids["hold_later"]]["hold"] == {"review_date": "2027-03-29", "review_overdue": False}
    assert items[ids["check_due"]]["sustainment_check_due"] == {"weeks": 13, "due_on": "2027-02-22"}
    assert [i["id"] for i in items.values() if i["sustainment_check_due"]] == [ids["check_due"]]
    assert [i["id"] for i in items.values() if i["hold"]] == [ids["hold_overdue"], ids["hold_later"]]
    assert "reason" not in items[ids["hold_later"]]["hold"]  # the hold's reason stays on the referral page


def test_a_hold_is_overdue_only_once_its_review_date_has_passed(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "put_on_hold", reason="person_request", review_date="2026-11-25")
    for days, overdue in ((1, False), (1, False), (1, True)):  # the 24th, the 25th (due today), the 26th
        h.clock.advance(days=days)
        [item] = h.client.get("/referrals?view=on_hold", headers=lead(h)).get_json()["items"]
        assert item["hold"] == {"review_date": "2026-11-25", "review_overdue": overdue}


def test_the_unassigned_and_on_hold_filters_and_their_order(harness):
    h = harness
    ids = team_queue(h)

    def listed(view, headers=None):
        return [i["id"] for i in h.client.get(f"/referrals?view={view}", headers=headers or lead(h)
                                              ).get_json()["items"]]
    assert listed("unassigned") == [ids["new"]]
    assert listed("on_hold") == [ids["hold_overdue"], ids["hold_later"]]  # soonest review first
    # By review date, not by when the referral was made: the earlier-made one now reviews last.
    assert h.act(ids["hold_overdue"], "resume", note="better").status_code == 200
    assert h.act(ids["hold_overdue"], "put_on_hold", reason="person_unwell", review_date="2027-04-05"
                 ).status_code == 200
    assert listed("on_hold") == [ids["hold_later"], ids["hold_overdue"]]
    assert listed("checks_due") == [ids["check_due"]]
    page = h.client.get("/queue?view=unassigned", headers={**lead(h), **HTML}).get_data(as_text=True)
    assert re.findall(r'<a href="/queue/([0-9a-f-]{36})"[^>]*>', page) == [ids["new"]]
    assert '<h2 id="list-heading">Referrals no adviser holds</h2>' in page
    assert h.client.get("/referrals?view=nobody", headers=lead(h)).status_code == 422


def test_the_checks_due_view_lists_the_longest_due_first(harness):
    h = harness
    ids = []
    for n in range(2):
        h.clock.advance(minutes=1)
        ids.append(h.refer({"nhs_number": nhs_number(n, 72), "given_name": f"Jo{n}"}).get_json()["id"])
    h.clock.advance(days=2)
    for rid, started in zip(ids, ("2026-11-25", "2026-11-24")):  # the later-made one's job started first
        h.act(rid, "accept", adviser_id="adviser-1")
        h.act(rid, "make_first_contact")
        assert h.act(rid, "record_outcome", type="job_start", occurred_on=started,
                     hours_band="30_plus").status_code == 200
    h.clock.advance(days=92)
    items = h.client.get("/referrals?view=checks_due", headers=lead(h)).get_json()["items"]
    assert [(i["id"], i["sustainment_check_due"]["due_on"]) for i in items] == [
        (ids[1], "2027-02-23"), (ids[0], "2027-02-24")]


def test_only_what_the_reader_may_see(harness):
    h = harness
    ids = team_queue(h)
    # The referrer sees holds and who holds it (as on the referral page), never a check: it tells of a job start.
    sent = by_id(h.client.get("/referrals?view=sent", headers=h.gp()).get_json()["items"])
    assert sent[ids["check_due"]]["sustainment_check_due"] is None
    assert sent[ids["hold_later"]]["hold"]["review_date"] == "2027-03-29"
    assert sent[ids["held_by_sam"]]["assigned_adviser"] == "Sam Patel at organisation " + ADVISERS
    # Another adviser organisation lists none of them, in any view.
    for view in ("all", "unassigned", "on_hold", "checks_due"):
        assert h.client.get(f"/referrals?view={view}", headers=h.adviser(org=OTHER_ADVISERS)
                            ).get_json()["items"] == []
    # The alliance sees the check and the adviser by name at their organisation, not their login id.
    admin = by_id(h.client.get("/referrals?view=all", headers=h.admin()).get_json()["items"])
    assert admin[ids["check_due"]]["sustainment_check_due"]["weeks"] == 13
    assert admin[ids["held_by_sam"]]["assigned_adviser"] == "Sam Patel at organisation " + ADVISERS
    # Once the person withdraws consent nobody is to call them: no check is due.
    assert h.client.post(f"/referrals/{ids['check_due']}/consent-withdrawal", headers=lead(h)).status_code == 200
    items = by_id(h.client.get("/referrals?view=all", headers=lead(h)).get_json()["items"])
    assert items[ids["check_due"]]["sustainment_check_due"] is None


def test_the_list_schema_documents_the_new_fields():
    from worklink_referrals.schemas import QueueItemSchema, QueueQuerySchema
    fields = QueueItemSchema().fields
    assert {"assigned_adviser_name", "hold", "sustainment_check_due"} <= set(fields)
    assert {"unassigned", "on_hold"} <= set(QueueQuerySchema().fields["view"].validate.choices)


def test_the_openapi_document_has_the_fields(harness):
    spec = harness.client.get("/openapi.json").get_json()
    item = spec["components"]["schemas"]["QueueItem"]["properties"]
    assert {"assigned_adviser_name", "hold", "sustainment_check_due"} <= set(item)


def test_a_page_costs_the_same_statements_for_five_referrals_or_ten(both):
    """On SQLite and PostgreSQL: the due checks are one query for the page, not one per referral."""
    h = both
    team_queue(h)
    counts = {}
    for label in ("five", "ten"):
        for path, headers in (("/referrals?view=all", lead(h)), ("/queue?view=all", {**lead(h), **HTML})):
            with statements(h) as seen:
                assert h.client.get(path, headers=headers).status_code == 200
            counts[label, path] = len(selects(seen))
            assert sum(" FROM sustainment_checks" in s for s in seen) == 1, (path, seen)
        if label == "five":
            ids = team_queue(h, batch=73)  # five more, a second job start among them
            assert ids
    assert counts["five", "/referrals?view=all"] == counts["ten", "/referrals?view=all"]
    assert counts["five", "/queue?view=all"] == counts["ten", "/queue?view=all"]
