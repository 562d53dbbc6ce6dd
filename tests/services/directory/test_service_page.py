"""The residents' pages through the Flask test client: the filters, and what a service page says about its state."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from tests.services.directory.conftest import ORG_A, token_for
from worklink_directory.models import ServiceCapacity


def test_a_listing_no_longer_offered_says_so(app, directory):
    client = app.test_client()
    owner = token_for(app, "org_admin", ORG_A)
    cafe, debt = directory.ids["cafe"], directory.ids["debt"]
    assert "No longer available" not in client.get(f"/find/services/{cafe}").get_data(as_text=True)
    assert client.patch(f"/manage/services/{cafe}", json={"status": "inactive"}, headers=owner).status_code == 200
    assert "This service is not being offered at the moment." in client.get(f"/find/services/{cafe}").get_data(
        as_text=True)
    assert client.post(f"/manage/services/{debt}/withdraw", json={"reason": "closed"}, headers=owner).status_code == 200
    assert "This service has been withdrawn." in client.get(f"/find/services/{debt}").get_data(as_text=True)


def test_the_service_page_shows_whether_referrals_are_taken_and_the_typical_wait(app, directory):
    client = app.test_client()
    counselling = directory.ids["counselling"]
    assert "referrals" not in client.get(f"/find/services/{counselling}").get_data(as_text=True)
    with app.extensions["worklink"].database.transaction() as session:
        session.add(ServiceCapacity(service_id=uuid.UUID(counselling), organization_id=ORG_A, accepting_referrals=False,
                                    open_referrals=12, typical_wait_days=40, updated=datetime.now(timezone.utc)))
    html = client.get(f"/find/services/{counselling}").get_data(as_text=True)
    assert "Not taking new referrals at the moment." in html and "Typical wait: 40 days." in html
    with app.extensions["worklink"].database.transaction() as session:
        session.get(ServiceCapacity, uuid.UUID(counselling)).accepting_referrals = True
    assert "Taking new referrals now." in client.get(f"/find/services/{counselling}").get_data(as_text=True)


def test_the_find_page_filters_by_age_delivery_mode_and_time(both):
    """On SQLite and PostgreSQL: the filters are SQL (a time of day, ages, a delivery mode in a list)."""
    app, _ = both
    client = app.test_client()

    def found(query: str) -> list[str]:
        response = client.get("/find?" + query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return sorted(re.findall(r'<a class="nhsuk-card__link" href="/find/services/[^"]+">([^<]+)</a>',
                                 response.get_data(as_text=True)))

    assert found("age=17") == ["Debt and money advice, Bridgwater", "Safe housing support",
                               "Young people&#39;s job club, Yeovil"]
    assert found("delivery=telephone") == ["Taunton counselling service"]
    assert found("time=18:30") == ["Digital skills for work, online", "Young people&#39;s job club, Yeovil"]
    assert found("age=17&time=18:30&delivery=in_person") == ["Young people&#39;s job club, Yeovil"]
    assert client.get("/find?age=old").status_code == 400


def test_the_ways_a_service_is_provided_read_as_one_sentence(app, directory):
    html = app.test_client().get(f"/find/services/{directory.ids['counselling']}").get_data(as_text=True)
    assert re.search(r"How it is provided</dt><dd[^>]*>In person, by telephone</dd>", html)


def test_a_day_with_two_sessions_reads_in_time_order(app, directory):
    """A partner adds the afternoon session first, then the morning: residents read the morning first (the page
    sorted by day alone, so the day's sessions came in the order they were added, 13:00 before 09:00)."""
    cafe = directory.ids["cafe"]
    sessions = [{"byday": "MO", "opens_at": "13:00", "closes_at": "16:00"},
                {"byday": "MO", "opens_at": "09:00", "closes_at": "12:00"},
                {"byday": "SA", "opens_at": "10:00", "closes_at": "14:00"}]
    assert app.test_client().patch(f"/manage/services/{cafe}", json={"schedules": sessions},
                                   headers=token_for(app, "org_admin", ORG_A)).status_code == 200
    html = app.test_client().get(f"/find/services/{cafe}").get_data(as_text=True)
    shown = re.findall(r"<td class=\"nhsuk-table__cell\">(\w+)</td><td class=\"nhsuk-table__cell\">([\d:]+) to", html)
    assert shown == [("Monday", "09:00"), ("Monday", "13:00"), ("Saturday", "10:00")]


def test_each_contact_line_names_its_contact_and_job_title(app, directory):
    """A contact a partner gives with a name, a job title and an email showed residents only "Email: ...", and a
    job title nowhere: what the partner typed did not show."""
    cafe = directory.ids["cafe"]
    contacts = [{"name": "Advice line", "title": "Duty team", "phones": [{"number": "01632 960001"}]},
                {"name": "Jo Bloggs", "title": "Volunteer coordinator", "email": "jo@example.org"},
                {"email": "hello@example.org"}]
    assert app.test_client().patch(f"/manage/services/{cafe}", json={"contacts": contacts},
                                   headers=token_for(app, "org_admin", ORG_A)).status_code == 200
    html = app.test_client().get(f"/find/services/{cafe}").get_data(as_text=True)
    lines = [re.sub(r"<[^>]+>", "", line).strip() for line in re.findall(r"<li>(.*?)</li>", html)]
    assert sorted(lines[-3:]) == ["Advice line (Duty team): 01632 960001", "Email: hello@example.org",
                                  "Jo Bloggs (Volunteer coordinator), email: jo@example.org"]
