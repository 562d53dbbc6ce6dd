"""Demo data loads once, through the same use cases as the API."""

from __future__ import annotations

from worklink_adjustments.domain import nhs_number_is_valid
from worklink_adjustments.seed import DEMO_PRACTICE, demo_nhs_number, load_demo_data
from worklink_adjustments.sweep import run_once


def test_demo_data_loads_once_and_is_visible_to_the_demo_practice(app, settings, client, tokens):
    assert all(nhs_number_is_valid(demo_nhs_number(n)) and demo_nhs_number(n).startswith("999") for n in range(60))
    message = load_demo_data(settings)
    assert "3 demo suggestions" in message
    assert load_demo_data(settings) == "demo suggestions already loaded"
    listing = client.get("/suggestions", headers=tokens.header(org=DEMO_PRACTICE)).get_json()
    assert sorted(item["status"] for item in listing["items"]) == ["draft", "issued", "issued"]
    link = message.rsplit(" ", 1)[1]
    assert client.get(link).status_code == 200
    context = app.extensions["worklink"]
    assert run_once(context.database, context.outbox) == {"expired": 0, "review_due": 0, "audit_references_rekeyed": 0,
                                                          "erased_past_retention": 0, "audit_entries_deleted": 0,
                                                          "referral_requests_unanswered": 0}
