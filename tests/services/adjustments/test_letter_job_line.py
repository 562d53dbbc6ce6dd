"""The employer letter's job line reads as a sentence: "This advice was written with their work as a nurse in mind".
It printed the title as typed - "their work as Nurse" - a job title typed as a heading put into a sentence."""

from __future__ import annotations

import pytest

from tests.services.adjustments.test_letters_and_employer import issued, pdf_text
from worklink_adjustments.letters import as_occupation


@pytest.mark.parametrize("typed, reads", [
    ("Nurse", "a nurse"), ("nurse", "a nurse"), ("Staff Nurse", "a staff nurse"), ("Engineer", "an engineer"),
    ("Office manager", "an office manager"), ("HGV Driver", "an HGV driver"), ("NHS nurse", "an NHS nurse"),
    ("GP receptionist", "a GP receptionist"), ("MRI radiographer", "an MRI radiographer"),
    ("Nurse at Tesco", "a nurse at Tesco"), ("Care Assistant at Sunrise Homes", "a care assistant at Sunrise Homes"),
    ("Head of IT", "a head of IT"), ("University lecturer", "a university lecturer"),
    ("Hour-paid tutor", "an hour-paid tutor"), ("McDonald's crew member", "a McDonald's crew member"),
    ("an electrician", "an electrician"), ("A Nurse", "a nurse"), ("NHS Staff Nurse", "an NHS staff nurse"),
    ("A&E Nurse", "an A&E nurse"), ("Part-time Cleaner", "a part-time cleaner"),
])
def test_a_typed_job_title_reads_after_as(typed, reads):
    assert as_occupation(typed) == reads


@pytest.mark.parametrize("typed, reads", [
    ("Tesco Cashier", "a Tesco Cashier"), ("Tesco cashier", "a Tesco cashier"),
    ("Senior Tesco Cashier", "a Senior Tesco Cashier"), ("Boots Pharmacist", "a Boots Pharmacist"),
    ("Amazon Warehouse Operative", "an Amazon Warehouse Operative"), ("Home Office Caseworker", "a Home Office Caseworker"),
    ("Sainsbury's Shelf Stacker", "a Sainsbury's Shelf Stacker"), ("Royal Mail Postman", "a Royal Mail Postman"),
    ("NHS Lothian Porter", "an NHS Lothian Porter"), ("Transport for London driver", "a Transport for London driver"),
])
def test_a_name_in_a_job_title_keeps_its_capitals(typed, reads):
    """ "Tesco Cashier" was printed "their work as a tesco cashier": every leading capitalised word was lower-cased.
    A run of leading capitals is lower-cased only when each is a common job word; one with a name in it is kept
    as the GP typed it."""
    assert as_occupation(typed) == reads


def test_the_letter_says_their_work_as_a_nurse(client, tokens):
    for typed, reads in (("Nurse", "as a nurse"), ("Engineer", "as an engineer"), ("HGV Driver", "as an HGV driver")):
        s = issued(client, tokens, **{"job.title": typed})
        html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
        assert f"This advice was written with their work {reads} in mind." in html, typed
        pdf = pdf_text(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
        assert f"This advice was written with their work {reads} in mind." in pdf, typed


@pytest.mark.parametrize("typed, reads", [
    ("Office for Students Analyst", "an Office for Students Analyst"),
    ("Bank of England Clerk", "a Bank of England Clerk"),
    ("Office of the Public Guardian Caseworker", "an Office of the Public Guardian Caseworker"),
    ("Health and Safety Officer", "a Health and Safety Officer"), ("Health & Safety Officer", "a Health & Safety Officer"),
    ("Head of Department", "a Head of Department"), ("Nurse in Charge", "a Nurse in Charge"),
    ("Office for students analyst", "an office for students analyst"),
])
def test_capitals_running_on_past_for_or_of_are_kept_as_typed(typed, reads):
    """ "Office for Students Analyst" was printed "an office for Students Analyst": the leading job word was
    lower-cased and the name it starts left in capitals. Capitals that go on past a joining word that binds a
    name are kept as the GP typed them; the article is chosen by the first word's sound."""
    assert as_occupation(typed) == reads


def test_the_letter_keeps_a_named_job_title_as_typed(client, tokens):
    s = issued(client, tokens, **{"job.title": "Office for Students Analyst"})
    line = "This advice was written with their work as an Office for Students Analyst in mind."
    html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
    assert line in html
    assert line in pdf_text(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
