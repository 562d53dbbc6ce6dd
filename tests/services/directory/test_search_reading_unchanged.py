"""A tripwire for the stored search index: every listing's entry holds its text as search.tokens read it when
the entry was written. Change how text is read (stop words, spellings, the stemmer, words kept apart,
possessives) and the stored entries no longer match what queries look for - "employer" stored as "employ" is
not found by a query reading "employer" - until the index is rebuilt. So such a change must come with a
migration that rebuilds it (as directory_0016 does: search.index_every_service), and this test says so."""

import hashlib
import json

from worklink_directory import search

# The reading the newest index-rebuilding migration (directory_0016) built every entry with. Update it only in
# the change that adds the next such migration.
INDEXED_READING = "4e896ed2e1057dc45e61a5de88065825d6f527328f01a7770795efcfce93ffcb"

SAMPLES = [
    "Carer's support: employers, employment and well-being in Taunton",
    "Counseling and behavioral health programs for people aged 16+; organization-led",
    "It's the carers\u2019 café at St Mary's - help with CVs, résumés, debt & money",
    "Menopause, ADHD, autism, dyslexia: neurodiversity at work",
    "One-to-one support from a specialist employment adviser if your health makes it hard to find or keep work",
    "Group exercise and advice for people with back, neck and joint pain who want to stay in work",
    "Talking therapies, counselling and wellbeing courses; self-referral online or by telephone",
    "Benefits advice, Universal Credit, PIP and budgeting; housing and homelessness prevention",
    "Drinking, drugs and substance misuse: recovery support and volunteering opportunities",
    "Long COVID rehabilitation, fatigue management and a phased return to work",
    "Skills and training: English, maths, digital skills, interview practice and apprenticeships",
    "Employer wellbeing programmes: reasonable adjustments, Access to Work and line managers' training",
]


def reading() -> str:
    texts = SAMPLES + sorted(search.STOP_WORDS) + sorted(search.UK_SPELLING) + sorted(search.KEPT_APART)
    return hashlib.sha256(json.dumps([search.tokens(text) for text in texts]).encode()).hexdigest()


def test_listings_text_is_read_as_the_stored_index_was_built():
    assert reading() == INDEXED_READING, (
        "search.tokens reads text differently from when the stored index was built: add a migration that "
        "rebuilds it (search.index_every_service, as directory_0016), then set INDEXED_READING to "
        f"{reading()!r}")
