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
    ("an electrician", "an electrician"),
])
def test_a_typed_job_title_reads_after_as(typed, reads):
    assert as_occupation(typed) == reads


def test_the_letter_says_their_work_as_a_nurse(client, tokens):
    for typed, reads in (("Nurse", "as a nurse"), ("Engineer", "as an engineer"), ("HGV Driver", "as an HGV driver")):
        s = issued(client, tokens, **{"job.title": typed})
        html = client.get(f"/suggestions/{s['id']}/letter", headers=tokens.header()).get_data(as_text=True)
        assert f"This advice was written with their work {reads} in mind." in html, typed
        pdf = pdf_text(client.get(f"/suggestions/{s['id']}/letter.pdf", headers=tokens.header()).data)
        assert f"This advice was written with their work {reads} in mind." in pdf, typed
