"""Steps the referrals service publishes from one change carry one version (the referral's after it): the clinician's
read model keeps the furthest of them, whichever order they arrive in, and an older version still changes nothing."""

from __future__ import annotations

import pytest

from worklink_adjustments.events import on_referral_lifecycle
from tests.services.adjustments.test_referral_consent_withdrawal import REFER, issued, lifecycle_event


def _steps_seen(app, client, tokens, steps: list[tuple[str, int]]) -> str:
    s = issued(client, tokens, **REFER)
    request_id = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]["request_id"]
    database = app.extensions["worklink"].database
    for step, version in steps:
        with database.transaction() as session:
            on_referral_lifecycle(session, lifecycle_event(step, request_id, version))
    return client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]["status"]


@pytest.mark.parametrize("steps, seen", [
    ([("received", 3), ("accepted", 3), ("allocated", 3)], "allocated"),  # accepted straight away and taken on
    ([("submitted", 1), ("held", 1)], "held"),  # no adviser service could take it: held for the alliance to route
    ([("allocated", 3), ("received", 3)], "allocated"),  # an earlier step of that change again (a redelivery)
    ([("submitted", 1), ("held", 1), ("routed", 2), ("held", 1)], "routed"),  # an older version: nothing
    ([("put_on_hold", 5), ("accepted", 5)], "put_on_hold"),  # not steps of one change: the first stays
], ids=["accept-and-take-on", "taken-in-and-held", "redelivered-earlier-step", "older-version", "unrelated-steps"])
def test_the_furthest_step_of_one_change_is_kept(svc, steps, seen):
    app, client, tokens = svc
    assert _steps_seen(app, client, tokens, steps) == seen
