"""The pages' error messages: each names its field and says how to fix it (NHS.UK style), and the
write page shows every problem in one round (the NHS number's check digit with the missing name)."""

from __future__ import annotations

import html as htmllib
import re

from tests.services.adjustments.test_letters_and_employer import issued, response_link


def summary(response) -> list[str]:
    """The links of the page's error summary, in order."""
    body = response.get_data(as_text=True)
    box = body.split('nhsuk-error-summary__list', 1)[1].split("</ul>", 1)[0]
    return [htmllib.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in re.findall(r"<a [^>]*>(.*?)</a>", box, re.S)]


def csrf_for(client, path, **kwargs) -> str:
    page = client.get(path, **kwargs).get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_the_write_page_names_each_missing_answer_and_checks_the_nhs_number_in_the_same_round(client, tokens):
    h = tokens.header()
    form = {"csrf_token": csrf_for(client, "/write", headers=h), "patient.nhs_number": "943 476 5918",
            "assessment.date": "2026-01-05", "assessment.method": "face_to_face", "decision": "may_be_fit",
            "conditions.0.text": "Back pain", "functional_effects": "Cannot lift more than 5 kg.",
            "period.start": "2026-01-05", "period.duration_days": "28"}
    refused = client.post("/write", data=form, headers=h)
    assert refused.status_code == 422
    messages = summary(refused)
    assert "Missing data for required field." not in refused.get_data(as_text=True)
    for expected in ("Enter the patient's first name", "Enter the patient's last name",
                     "Enter the patient's date of birth", "Enter your name", "Select your profession",
                     "This is not a valid NHS number: its check digit does not match."):
        assert expected in messages, messages
    assert len(messages) == len(set(messages))  # no two identical links

    bad = client.post("/write", headers=h, data={**form, "patient.nhs_number": "12345", "patient.email": "sam@",
                                                 "period.duration_days": "many", "patient.birth_date": "1985-02-30"})
    messages = summary(bad)
    assert "Enter the patient's NHS number in the correct format, 10 digits like 943 476 5919" in messages
    assert "Enter the patient's email address in the correct format, like name@example.com" in messages
    assert "Enter the number of days as a whole number from 1 to 3650, like 28" in messages
    assert "Date of birth must be a real date" in messages
    no_condition = client.post("/write", headers=h, data={**form, "conditions.0.text": ""})
    assert "Enter the condition affecting the patient's fitness for work" in summary(no_condition)


def test_the_employer_page_says_which_recommendation_needs_an_answer_in_plain_words(client, tokens):
    s = issued(client, tokens)
    link = response_link(client, tokens, s["id"])
    answer = client.post(link, data={"csrf_token": csrf_for(client, link), "items.1.outcome": "not_possible",
                                     "items.2.outcome": "agreed"})
    assert answer.status_code == 422
    messages = summary(answer)
    assert messages == ["Select whether you agreed, partly agreed or could not make '1. Phased return over four weeks'",
                        "Say why '2. Quieter workspace' could not be agreed in full",
                        "Enter your name, 2 to 200 characters"], messages
    assert "Must be one of" not in answer.get_data(as_text=True)


def test_a_choice_not_on_a_checkbox_list_is_linked_to_the_list(client, tokens):
    """A refused box of a group ("/categories/0": a choice from an old page, or a hand-edited form) was linked
    as "#categories-0", an id no field has, so the summary's link led nowhere; the group's first box has the
    group's id."""
    h = tokens.header()
    token = csrf_for(client, "/write", headers=h)
    refused = client.post("/write", headers=h, data={"csrf_token": token, "categories": "teleportation",
                                                     "job.tasks": "Juggling!"})
    body = refused.get_data(as_text=True)
    box = body.split("nhsuk-error-summary__list", 1)[1].split("</ul>", 1)[0]
    links = re.findall(r'<a href="#([^"]+)"', box)
    assert "categories" in links and "job-tasks" in links
    assert all(f'id="{target}"' in body for target in links), [t for t in links if f'id="{t}"' not in body]
