"""Clinical review of the guidance library: unreviewed guidance is shown as such to clinicians,
alliance admins record reviews (who, when), a changed item is unreviewed again, and a report
(API and CLI) lists what is not reviewed."""

from __future__ import annotations

from click.testing import CliRunner

from worklink_adjustments.cli import main as adjustments_cli
from tests.services.adjustments.conftest import LIBRARY_VERSION, suggestion_body

ADMIN = {"role": "alliance_admin", "org": None, "subject": "dr-reviewer"}


def admin(tokens) -> dict:
    return tokens.header(**ADMIN)


def search(client, tokens, query: str) -> dict:
    response = client.get(f"/guidance/search?{query}", headers=tokens.header())
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_starter_library_is_reported_and_shown_as_not_clinically_reviewed(client, tokens):
    report = client.get("/guidance/review-report", headers=admin(tokens))
    assert report.status_code == 200, report.get_data(as_text=True)
    body = report.get_json()
    assert body["clinically_reviewed"] is False and body["last_review"] is None
    assert body["adjustments"] == {"total": 194, "unreviewed": 194}
    assert body["rules"] == {"total": 1122, "unreviewed": 1122}
    assert {"id": "quiet_workspace", "title": "Quieter workspace", "review_status": "published"} in \
        body["unreviewed_adjustments"]
    assert client.get("/guidance/review-report", headers=tokens.header()).status_code == 403

    hits = search(client, tokens, "condition=depression")["hits"]
    assert hits and not any(h["clinically_reviewed"] for h in hits)
    page = client.get("/find?condition=depression", headers=tokens.header()).get_data(as_text=True)
    assert "Guidance not clinically reviewed" in page
    assert page.count("Not clinically reviewed") >= len(hits[:25])


def test_an_alliance_admin_records_who_reviewed_what_and_an_edit_undoes_it(client, tokens):
    adjustment = client.get("/guidance/adjustments/quiet_workspace", headers=tokens.header()).get_json()
    assert client.post("/guidance/adjustments/quiet_workspace/clinical-review", json={"revision": 1},
                       headers=tokens.header()).status_code == 403
    stale = client.post("/guidance/adjustments/quiet_workspace/clinical-review",
                        json={"revision": adjustment["revision"] + 1}, headers=admin(tokens))
    assert stale.status_code == 409 and stale.get_json()["current_revision"] == adjustment["revision"]
    assert client.post("/guidance/adjustments/nope/clinical-review", json={"revision": 1},
                       headers=admin(tokens)).status_code == 404

    reviewed = client.post("/guidance/adjustments/quiet_workspace/clinical-review",
                           json={"revision": adjustment["revision"]}, headers=admin(tokens))
    assert reviewed.status_code == 200, reviewed.get_data(as_text=True)
    body = reviewed.get_json()
    assert body["review_status"] == "clinically_reviewed" and body["reviewed_by"] == "dr-reviewer"
    assert body["reviewed_at"] and body["updated_in_version"] == LIBRARY_VERSION + 1
    versions = client.get("/guidance/versions", headers=tokens.header()).get_json()["items"]
    assert versions[0]["change"] == "clinical review of adjustment quiet_workspace"

    # Only through the review endpoint: a PATCH cannot claim a review without recording it.
    claimed = client.patch("/guidance/adjustments/quiet_workspace",
                           json={"revision": body["revision"], "review_status": "clinically_reviewed"},
                           headers=admin(tokens))
    assert claimed.status_code == 422 and claimed.get_json()["errors"][0]["pointer"] == "/review_status"

    report = client.get("/guidance/review-report", headers=admin(tokens)).get_json()
    assert report["adjustments"]["unreviewed"] == 193 and report["last_review"]["by"] == "dr-reviewer"

    reworded = client.patch("/guidance/adjustments/quiet_workspace",
                            json={"revision": body["revision"], "employer_text": "A quieter place to work, away "
                                                                                 "from the busiest areas."},
                            headers=admin(tokens))
    assert reworded.status_code == 200, reworded.get_data(as_text=True)
    again = reworded.get_json()
    assert again["review_status"] == "published" and again["reviewed_by"] is None and again["reviewed_at"] is None


def test_a_hit_is_reviewed_only_when_its_adjustment_and_rules_are(client, tokens):
    hit = next(h for h in search(client, tokens, "limitation=sensory_overload")["hits"]
               if h["adjustment"]["id"] == "quiet_workspace")
    rules = client.get("/guidance/review-report", headers=admin(tokens)).get_json()["unreviewed_rules"]
    found_by = [r["id"] for r in rules if r["adjustment_id"] == "quiet_workspace"
                and r["limitation_id"] == "sensory_overload" and not r["condition_id"] and not r["work_function_id"]]
    assert found_by and not hit["clinically_reviewed"]
    for rule_id in found_by:
        marked = client.post(f"/guidance/rules/{rule_id}/clinical-review", json={"revision": 1}, headers=admin(tokens))
        assert marked.status_code == 200 and marked.get_json()["reviewed_by"] == "dr-reviewer"
    hit = next(h for h in search(client, tokens, "limitation=sensory_overload")["hits"]
               if h["adjustment"]["id"] == "quiet_workspace")
    assert not hit["clinically_reviewed"]  # the rules are reviewed, the adjustment is not yet
    client.post("/guidance/adjustments/quiet_workspace/clinical-review", json={"revision": 1}, headers=admin(tokens))
    hit = next(h for h in search(client, tokens, "limitation=sensory_overload")["hits"]
               if h["adjustment"]["id"] == "quiet_workspace")
    assert hit["clinically_reviewed"]
    assert client.post("/guidance/rules/999999/clinical-review", json={"revision": 1},
                       headers=admin(tokens)).status_code == 404


def test_the_letter_preview_marks_unreviewed_guidance_for_the_clinician_only(client, tokens):
    draft = client.post("/suggestions", json=suggestion_body(), headers=tokens.header()).get_json()
    page = client.get(f"/review/{draft['id']}", headers=tokens.header()).get_data(as_text=True)
    notice = page.split('id="unreviewed-guidance"')[1].split("</div>")[0]
    assert "Phased return over four weeks" in notice and "Quieter workspace" in notice
    assert "Start at 10am" not in notice  # the clinician's own free text is not library guidance
    letter = client.get(f"/suggestions/{draft['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert "clinically reviewed" not in letter

    client.post("/guidance/adjustments/quiet_workspace/clinical-review", json={"revision": 1}, headers=admin(tokens))
    page = client.get(f"/review/{draft['id']}", headers=tokens.header()).get_data(as_text=True)
    notice = page.split('id="unreviewed-guidance"')[1].split("</div>")[0]
    assert "Phased return over four weeks" in notice and "Quieter workspace" not in notice


def test_the_review_report_command(client, tokens, settings, monkeypatch):
    client.post("/guidance/adjustments/quiet_workspace/clinical-review", json={"revision": 1}, headers=admin(tokens))
    monkeypatch.setenv("ADJUSTMENTS_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(adjustments_cli, ["review-report"])
    assert result.exit_code == 0, result.output
    assert f"Guidance version {LIBRARY_VERSION + 1}: NOT clinically reviewed." in result.output
    assert "adjustments: 193 of 194 unreviewed" in result.output and "rules:       1122 of 1122" in result.output
    assert "by dr-reviewer" in result.output
    assert "adjustment phased_return_4wk" in result.output and "adjustment quiet_workspace " not in result.output
    as_json = CliRunner().invoke(adjustments_cli, ["review-report", "--json"])
    assert '"unreviewed": 193' in as_json.output


def test_a_rule_is_reviewed_as_its_reviewer_read_it_and_a_changed_one_is_not(client, tokens):
    """A rule had no revision: a review recorded after another admin rewrote its rationale marked the new words
    reviewed by someone who never read them, and two edits overwrote each other. Nor could a reviewer read a rule."""
    other_admin = tokens.header(role="alliance_admin", org=None, subject="admin-b")
    listed = client.get("/guidance/review-report", headers=admin(tokens)).get_json()["unreviewed_rules"][0]
    read = client.get(f"/guidance/rules/{listed['id']}", headers=admin(tokens))
    assert read.status_code == 200, read.get_data(as_text=True)
    rule = read.get_json()
    assert rule["revision"] == listed["revision"] == 1
    assert (rule["rationale"], rule["priority"]) == (listed["rationale"], listed["priority"])  # what is reviewed

    rewritten = client.patch(f"/guidance/rules/{rule['id']}", headers=other_admin,
                             json={"revision": 1, "rationale": "Rewritten after the reviewer read it."})
    assert rewritten.status_code == 200 and rewritten.get_json()["revision"] == 2
    stale_review = client.post(f"/guidance/rules/{rule['id']}/clinical-review", json={"revision": 1},
                               headers=admin(tokens))
    assert stale_review.status_code == 409 and stale_review.mimetype == "application/problem+json"
    assert stale_review.get_json()["current_revision"] == 2
    stale_edit = client.patch(f"/guidance/rules/{rule['id']}", json={"revision": 1, "priority": 1},
                              headers=admin(tokens))
    assert stale_edit.status_code == 409 and stale_edit.get_json()["current_revision"] == 2
    unsent = client.post(f"/guidance/rules/{rule['id']}/clinical-review", json={}, headers=admin(tokens))
    assert unsent.status_code == 422 and [e["pointer"] for e in unsent.get_json()["errors"]] == ["/revision"]
    now = client.get(f"/guidance/rules/{rule['id']}", headers=admin(tokens)).get_json()
    assert (now["review_status"], now["priority"], now["rationale"]) == (
        "published", rule["priority"], "Rewritten after the reviewer read it.")

    reviewed = client.post(f"/guidance/rules/{rule['id']}/clinical-review", json={"revision": 2},
                           headers=admin(tokens))
    assert reviewed.status_code == 200, reviewed.get_data(as_text=True)
    assert (reviewed.get_json()["review_status"], reviewed.get_json()["revision"]) == ("clinically_reviewed", 3)


def test_a_published_change_of_a_rule_s_words_moves_its_revision_on(app, client, tokens):
    """A wording change shipped as a migration (knowledge.update_wording) rewrites rationales: a review of the
    words before it is then refused as an admin's edit makes it."""
    from worklink_adjustments import knowledge

    rule = client.get("/guidance/review-report", headers=admin(tokens)).get_json()["unreviewed_rules"][0]
    change = {"title": "test rewording", "rationales": [
        {"adjustment_id": rule["adjustment_id"], "from": rule["rationale"], "to": "Reworded by a published change."}]}
    with app.extensions["worklink"].database.transaction() as session:
        assert knowledge.update_wording(session, change, "test") == LIBRARY_VERSION + 1
    now = client.get(f"/guidance/rules/{rule['id']}", headers=admin(tokens)).get_json()
    assert (now["rationale"], now["revision"]) == ("Reworded by a published change.", 2)
    assert client.post(f"/guidance/rules/{rule['id']}/clinical-review", json={"revision": 1},
                       headers=admin(tokens)).status_code == 409
