"""The employer's reply as JSON (single use, expiry, 404/410 problems), and response rounds:
an amendment retires the unused link, the amended letter carries a fresh one, and earlier
answers stay in the history marked with the version they answered. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from worklink.db import utcnow
from worklink_adjustments.models import PLATFORM, EmployerLink
from tests.services.adjustments.conftest import Tokens, build_app, make_settings, suggestion_body


def issue(client, tokens, **overrides) -> dict:
    created = client.post("/suggestions", json=suggestion_body(**overrides), headers=tokens.header()).get_json()
    issued = client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=tokens.header())
    assert issued.status_code == 200, issued.get_data(as_text=True)
    return issued.get_json()


def letter_token(client, tokens, sid) -> str:
    html = client.get(f"/suggestions/{sid}/letter", headers=tokens.header()).get_data(as_text=True)
    found = re.search(r'/respond/([0-9a-f]{32}\.[0-9a-f]{32})"', html)
    assert found, "the letter carries the response link"
    return found.group(1)


ANSWER = {"items": [{"index": 0, "outcome": "agreed"},
                    {"index": 1, "outcome": "not_possible", "reason": "Open-plan floor only"},
                    {"index": 2, "outcome": "partly_agreed", "reason": "10am on Mondays only"}],
          "responder_name": "Jo Manager", "responder_role": "Shift manager"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def test_the_employer_sees_what_was_advised_without_the_diagnosis_and_answers_once(svc):
    app, client, tokens = svc
    s = issue(client, tokens)
    token = letter_token(client, tokens, s["id"])

    seen = client.get(f"/employer-links/{token}")
    assert seen.status_code == 200, seen.get_data(as_text=True)
    view = seen.get_json()
    assert view["employee"] == {"given_name": "Sam", "family_name": "Patel"}
    assert [r["title"] for r in view["recommendations"]][:2] == ["Phased return over four weeks", "Quieter workspace"]
    assert view["recommendations"][0]["schedule"][0] == {"week": 1, "plan": "4 hours a day, 3 days"}
    assert view["recommendations"][2]["advice"] == "Start at 10am for the first month."
    assert view["disclosed_conditions"] == [] and view["suggestion_version"] == 2
    raw = seen.get_data(as_text=True)
    assert "Depression" not in raw and "9434765919" not in raw and "1985-04-12" not in raw and "sam@" not in raw

    missing_reason = client.post(f"/employer-links/{token}/response", json={
        **ANSWER, "items": [{"index": 0, "outcome": "agreed"}, {"index": 1, "outcome": "not_possible"},
                            {"index": 2, "outcome": "agreed"}]})
    problem = assert_problem(missing_reason, 422)
    assert any(e["pointer"] == "/items/1" for e in problem["errors"])
    unanswered = client.post(f"/employer-links/{token}/response", json={**ANSWER, "items": ANSWER["items"][:2]})
    assert any(e["pointer"] == "/items" for e in assert_problem(unanswered, 422)["errors"])
    wrong_outcome = client.post(f"/employer-links/{token}/response",
                                json={**ANSWER, "items": [{"index": 0, "outcome": "maybe"}] + ANSWER["items"][1:]})
    assert any(e["pointer"].startswith("/items/0") for e in assert_problem(wrong_outcome, 422)["errors"])

    twice = client.post(f"/employer-links/{token}/response",
                        json={**ANSWER, "items": [*ANSWER["items"], {"index": 0, "outcome": "not_possible",
                                                                     "reason": "Changed my mind"}]})
    assert [e["pointer"] for e in assert_problem(twice, 422)["errors"]] == ["/items/3/index"]

    recorded = client.post(f"/employer-links/{token}/response", json=ANSWER)
    assert recorded.status_code == 201, recorded.get_data(as_text=True)
    answer = recorded.get_json()
    assert answer["outcome"] == "partially_agreed" and answer["suggestion_version"] == 2 and answer["current"]
    assert [i["outcome"] for i in answer["items"]] == ["agreed", "not_possible", "partially_agreed"]

    assert "already been recorded" in assert_problem(client.get(f"/employer-links/{token}"), 410)["detail"]
    assert_problem(client.post(f"/employer-links/{token}/response", json=ANSWER), 410)
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert_problem(client.get(f"/employer-links/{forged}"), 404)
    assert_problem(client.post(f"/employer-links/not-a-token/response", json=ANSWER), 404)

    mine = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()
    assert mine["employer_response"]["items"][1]["reason"] == "Open-plan floor only"
    with app.extensions["worklink"].database.engine.connect() as conn:
        payload = conn.execute(sa.select(PLATFORM.outbox.c.payload).where(
            PLATFORM.outbox.c.type == "adjustments.employer_response.recorded")).scalar_one()
        employer_audit = conn.execute(sa.select(PLATFORM.audit_log.c.purpose).where(
            PLATFORM.audit_log.c.actor_role == "employer")).scalars().all()
    assert json.loads(payload)["data"]["suggestion_version"] == 2 and "Open-plan" not in payload
    assert employer_audit == ["employer_response_form", "employer_response"]


def test_the_json_link_discloses_only_what_the_patient_agreed_and_expires(svc):
    app, client, tokens = svc
    s = issue(client, tokens, conditions=[{"text": "Depression", "disclose": True},
                                          {"text": "Back pain", "disclose": False}])
    token = letter_token(client, tokens, s["id"])
    assert client.get(f"/employer-links/{token}").get_json()["disclosed_conditions"] == ["Depression"]
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(EmployerLink).values(expires_at=utcnow() - timedelta(minutes=1)))
    gone = assert_problem(client.get(f"/employer-links/{token}"), 410)
    assert "expired" in gone["detail"] and gone["reason"] == "expired"
    assert_problem(client.post(f"/employer-links/{token}/response", json=ANSWER), 410)


def test_an_amendment_starts_a_new_response_round(svc):
    app, client, tokens = svc
    s = issue(client, tokens)
    sid, h = s["id"], tokens.header()
    first = letter_token(client, tokens, sid)
    assert client.post(f"/employer-links/{first}/response", json=ANSWER).status_code == 201

    amended = client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(reassessment_needed=False),
                                                             "version": 2}, headers=h)
    assert amended.status_code == 200, amended.get_data(as_text=True)
    body = amended.get_json()
    # The old answer no longer stands for the amended advice, but stays in the history.
    assert body["employer_response"] is None and body["employer_link_expires_at"]
    assert [(r["suggestion_version"], r["current"]) for r in body["employer_responses"]] == [(2, False)]
    assert client.get("/suggestions", headers=h).get_json()["items"][0]["employer_outcome"] is None

    second = letter_token(client, tokens, sid)
    assert second != first
    view = client.get(f"/employer-links/{second}").get_json()
    assert view["suggestion_version"] == 3 and view["amended"] is True
    all_agreed = {**ANSWER, "items": [{"index": i, "outcome": "agreed"} for i in range(3)]}
    assert client.post(f"/employer-links/{second}/response", json=all_agreed).status_code == 201

    mine = client.get(f"/suggestions/{sid}", headers=h).get_json()
    assert mine["employer_response"]["outcome"] == "agreed" and mine["employer_response"]["suggestion_version"] == 3
    assert [(r["suggestion_version"], r["current"], r["outcome"]) for r in mine["employer_responses"]] == [
        (3, True, "agreed"), (2, False, "partially_agreed")]
    assert client.get("/suggestions", headers=h).get_json()["items"][0]["employer_outcome"] == "agreed"

    page = client.get(f"/review/{sid}", headers=h).get_data(as_text=True)
    assert "Answer to the second issue (current)" in page and "Answer to the first issue (since amended)" in page


def test_an_amendment_retires_the_unused_link_of_the_earlier_letter(svc):
    app, client, tokens = svc
    s = issue(client, tokens)
    sid, h = s["id"], tokens.header()
    first = letter_token(client, tokens, sid)
    assert client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(), "version": 2},
                       headers=h).status_code == 200
    retired = assert_problem(client.get(f"/employer-links/{first}"), 410)
    assert retired["reason"] == "amended" and "newer letter" in retired["detail"]
    assert_problem(client.post(f"/employer-links/{first}/response", json=ANSWER), 410)
    assert client.get(f"/respond/{first}").status_code == 410  # the page follows the same rule

    second = letter_token(client, tokens, sid)
    assert client.get(f"/employer-links/{second}").status_code == 200
    letter = client.get(f"/suggestions/{sid}/letter", headers=h).get_data(as_text=True)
    assert "This letter replaces an earlier one" in letter
    assert client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(), "version": 3},
                       headers=h).status_code == 200
    assert_problem(client.get(f"/employer-links/{second}"), 410)
    with app.extensions["worklink"].database.engine.connect() as conn:
        links = conn.execute(sa.select(EmployerLink.suggestion_version, EmployerLink.revoked_at.is_not(None))
                             .order_by(EmployerLink.created_at)).all()
    assert [tuple(row) for row in links] == [(2, True), (3, True), (4, False)]


def test_the_employer_api_is_documented(svc):
    _, client, _ = svc
    spec = client.get("/openapi.json").get_json()
    get = spec["paths"]["/employer-links/{token}"]["get"]
    post = spec["paths"]["/employer-links/{token}/response"]["post"]
    assert {"200", "404", "410"} <= set(get["responses"]) and {"201", "404", "410", "422"} <= set(post["responses"])
    assert "security" not in get and "security" not in post  # the link is the credential


def _answer_at_once(app, path: str, n: int, **request) -> list[int]:
    """`n` clients submit the same answer at the same moment; their status codes, sorted."""
    barrier, codes = threading.Barrier(n), []

    def submit():
        client = app.test_client()
        client.set_cookie("worklink_csrf", CSRF)
        barrier.wait()
        codes.append(client.post(path, **request).status_code)

    threads = [threading.Thread(target=submit) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(codes)


CSRF = "c" * 36


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_double_submit_records_one_answer_and_refuses_the_rest_on_postgresql(tmp_path, postgres_url, via):
    settings = make_settings(tmp_path, postgres_url)
    app = build_app(settings)
    client, tokens = app.test_client(), Tokens(settings)
    try:
        for _ in range(3):
            s = issue(client, tokens)
            token = letter_token(client, tokens, s["id"])
            if via == "page":
                form = {"csrf_token": CSRF, "responder_name": "Jo Manager",
                        **{f"items.{i}.outcome": "agreed" for i in range(3)}}
                codes = _answer_at_once(app, f"/respond/{token}", 5, data=form)
            else:
                answer = {**ANSWER, "items": [{"index": i, "outcome": "agreed"} for i in range(3)]}
                codes = _answer_at_once(app, f"/employer-links/{token}/response", 5, json=answer)
            assert codes == [303 if via == "page" else 201] + [410] * 4
            answers = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["employer_responses"]
            assert len(answers) == 1
    finally:
        app.extensions["worklink"].database.dispose()


def _both_at_once(app, first: tuple, second: tuple, gate_table: str) -> tuple[int, int]:
    """Start `first` (method, path, body, headers), hold it at its write to `gate_table` while it holds its row
    locks, start `second` and let both go once it waits for a lock too (PostgreSQL). Their status codes."""
    engine, codes = app.extensions["worklink"].database.engine, {}
    waiting = sa.text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                      "WHERE NOT l.granted AND a.datname = current_database()")

    def send(name, method, path, body, headers):
        codes[name] = getattr(app.test_client(), method)(path, json=body, headers=headers).status_code

    def until_waiting(count: int) -> None:
        with engine.connect() as watcher:
            for _ in range(1000):
                found = watcher.execute(waiting).scalar()
                watcher.rollback()  # pg_stat_activity is read once per transaction: a fresh one each time
                if found >= count:
                    return
                time.sleep(0.01)
        raise AssertionError(f"fewer than {count} requests waiting for a lock")

    threads = [threading.Thread(target=send, args=(name, *call)) for name, call in (("first", first),
                                                                                   ("second", second))]
    with engine.connect() as gate:
        gate.execute(sa.text(f"LOCK TABLE {gate_table} IN SHARE MODE"))  # holds `first` just before its write
        threads[0].start()
        until_waiting(1)
        threads[1].start()
        until_waiting(2)
        gate.commit()
    for thread in threads:
        thread.join(30)
    return codes["first"], codes["second"]


def test_an_answer_racing_an_amendment_is_kept_never_a_failure_on_postgresql(tmp_path, postgres_url):
    """The employer's answer holds its link when the clinician amends: the amendment waits for it and opens
    the next round; neither fails (they used to deadlock: one got a 503, and an employer told to try again
    then found the link retired by the amendment, their answer lost)."""
    settings = make_settings(tmp_path, postgres_url)
    app = build_app(settings)
    client, tokens = app.test_client(), Tokens(settings)
    try:
        sid = issue(client, tokens)["id"]
        token = letter_token(client, tokens, sid)
        answered, amended = _both_at_once(
            app, ("post", f"/employer-links/{token}/response", ANSWER, {}),
            ("post", f"/suggestions/{sid}/amend", {**suggestion_body(), "version": 2}, tokens.header()),
            gate_table="employer_responses")
        assert (answered, amended) == (201, 200)
        mine = client.get(f"/suggestions/{sid}", headers=tokens.header()).get_json()
        assert [(r["suggestion_version"], r["current"]) for r in mine["employer_responses"]] == [(2, False)]
        assert mine["version"] == 3 and mine["employer_link_expires_at"]
    finally:
        app.extensions["worklink"].database.dispose()


def test_an_answer_racing_a_withdrawal_is_refused_on_postgresql(tmp_path, postgres_url):
    """The clinician withdraws the advice while the employer submits: the answer waits for the withdrawal and
    is refused (410) like any answer to withdrawn advice, not recorded and announced after the withdrawal."""
    settings = make_settings(tmp_path, postgres_url)
    app = build_app(settings)
    client, tokens = app.test_client(), Tokens(settings)
    try:
        sid = issue(client, tokens)["id"]
        token = letter_token(client, tokens, sid)
        withdrawn, answered = _both_at_once(
            app, ("post", f"/suggestions/{sid}/withdraw", {"version": 2, "reason": "other"}, tokens.header()),
            ("post", f"/employer-links/{token}/response", ANSWER, {}), gate_table="outbox")
        assert (withdrawn, answered) == (200, 410)
        mine = client.get(f"/suggestions/{sid}", headers=tokens.header()).get_json()
        assert mine["status"] == "withdrawn" and mine["employer_responses"] == []
    finally:
        app.extensions["worklink"].database.dispose()
