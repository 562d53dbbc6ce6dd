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
        marked = client.post(f"/guidance/rules/{rule_id}/clinical-review", json={}, headers=admin(tokens))
        assert marked.status_code == 200 and marked.get_json()["reviewed_by"] == "dr-reviewer"
    hit = next(h for h in search(client, tokens, "limitation=sensory_overload")["hits"]
               if h["adjustment"]["id"] == "quiet_workspace")
    assert not hit["clinically_reviewed"]  # the rules are reviewed, the adjustment is not yet
    client.post("/guidance/adjustments/quiet_workspace/clinical-review", json={"revision": 1}, headers=admin(tokens))
    hit = next(h for h in search(client, tokens, "limitation=sensory_overload")["hits"]
               if h["adjustment"]["id"] == "quiet_workspace")
    assert hit["clinically_reviewed"]
    assert client.post("/guidance/rules/999999/clinical-review", json={}, headers=admin(tokens)).status_code == 404


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
