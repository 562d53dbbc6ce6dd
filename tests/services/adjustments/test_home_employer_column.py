"""The home list's Employer column says whether an answer may still come, as the review page does; in real headless
Chromium with axe-core.

Found on a GP's walk through the pages: "No response yet" stood beside a draft (its employer not yet asked) and
beside a suggestion whose patient did not agree to employer answers (none will ever come), where the review page
said "Not asked yet" and "The patient did not agree to employer responses"."""

from __future__ import annotations

import pytest

from tests.browser import assert_accessible, live_server, sign_in
from tests.services.adjustments.conftest import suggestion_body

pytestmark = pytest.mark.timeout(180)


def test_the_employer_column_says_whether_an_answer_may_come(app, tokens, page):
    client, h = app.test_client(), tokens.header()

    def suggestion(given_name: str, share: bool, then: str | None = None) -> None:
        body = suggestion_body(**{"patient.given_name": given_name, "consent.share_with_employer": share})
        created = client.post("/suggestions", json=body, headers=h).get_json()
        if then:
            assert client.post(f"/suggestions/{created['id']}/issue", json={"version": 1}, headers=h).status_code == 200
        if then == "withdrawn":
            assert client.post(f"/suggestions/{created['id']}/withdraw", json={"version": 2, "reason": "other"},
                               headers=h).status_code == 200

    suggestion("Dara", share=True)
    suggestion("Isla", share=True, then="issued")
    suggestion("Noor", share=False, then="issued")
    suggestion("Wren", share=True, then="withdrawn")
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(), "/")
        rows = page.locator("tbody tr")
        employer = {row.locator("td").nth(0).inner_text().split()[-2]: row.locator("td").nth(4).inner_text()
                    .removeprefix("Employer").strip() for row in rows.all()}
        assert employer == {"Dara": "Not asked yet", "Isla": "No response yet",
                            "Noor": "Not asked: the patient did not agree", "Wren": "No response"}
        assert_accessible(page)
