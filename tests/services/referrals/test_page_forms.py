"""Page forms (test client): recording a withdrawal of consent from the referral page, the cancel
form without "consent withdrawn", the person's withdrawal after their referral ended, the
self-referral form's first-round errors and date input, the insights page (audited reads), and the
banner saying what a form did on the page it lands on."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.services.referrals.conftest import GP_PRACTICE, OTHER_ADVISERS, nhs_number
from worklink.auth import mint_token

HTML = {"Accept": "text/html"}
CSRF = "t0ken"


def post(h, path, data, headers):
    h.client.set_cookie("worklink_csrf", CSRF)
    return h.client.post(path, data={"csrf_token": CSRF, **data}, headers={**headers, **HTML})


def page(h, path, headers):
    return h.client.get(path, headers={**headers, **HTML}).get_data(as_text=True)


def cancel_reasons(html: str) -> list[str]:
    select = re.search(r'<select[^>]*id="cancel-reason".*?</select>', html, re.S).group(0)
    return re.findall(r'<option value="(\w+)"', select)


def completed(h) -> str:
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
    assert h.act(rid, "complete", end_reason="goals_met").status_code == 200
    return rid


def audit_rows(h, **where):
    table = h.ctx.tables.audit_log
    with h.ctx.database.engine.connect() as conn:
        return list(conn.execute(sa.select(table).filter_by(**where)))


def test_the_referrer_records_a_withdrawal_of_consent_from_the_referral_page(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    html = page(h, f"/queue/{rid}", h.gp())
    assert "Record that the person withdrew consent" in html
    assert cancel_reasons(html) == ["referrer_withdrew", "person_withdrew", "deceased", "other"]

    done = post(h, f"/queue/{rid}/consent-withdrawal", {}, h.gp())
    assert done.status_code == 303 and done.headers["Location"] == f"/queue/{rid}?done=consent_withdrawn"
    shown = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()
    assert (shown["status"], shown["status_reason"]) == ("cancelled", "consent_withdrawn")
    assert shown["consent"]["withdrawn_at"] and "person" not in shown
    html = page(h, f"/queue/{rid}", h.gp())
    assert "Details withheld (consent withdrawn)" in html and "Record that the person withdrew" not in html
    assert audit_rows(h, action="update", resource_id=rid, actor="gp-1")


def test_the_assigned_organisation_records_it_after_the_referral_ended(harness):
    h = harness
    rid = completed(h)
    assert "Record that the person withdrew consent" in page(h, f"/queue/{rid}", h.adviser())
    assert post(h, f"/queue/{rid}/consent-withdrawal", {}, h.adviser()).status_code == 303
    shown = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert shown["status"] == "completed" and shown["consent"]["withdrawn_at"]
    assert shown["consent"]["outcomes_to_referrer"] is False


def test_an_alliance_admin_records_it_on_the_page_as_through_the_api(harness):
    """The API took an alliance admin's withdrawal and the page refused it (403): a person who tells the alliance
    (which answers their rights requests, and alone sees a held self-referral) is not sent elsewhere."""
    h = harness
    by_page, by_api = (h.refer({"nhs_number": nhs_number(i, 61), "given_name": f"W{i}"}).get_json()["id"]
                       for i in range(2))
    assert "Record that the person withdrew consent" in page(h, f"/queue/{by_page}", h.admin())
    done = post(h, f"/queue/{by_page}/consent-withdrawal", {}, h.admin())
    assert done.status_code == 303 and done.headers["Location"] == f"/queue/{by_page}?done=consent_withdrawn"
    assert h.client.post(f"/referrals/{by_api}/consent-withdrawal", headers=h.admin()).status_code == 200
    for rid in (by_page, by_api):
        shown = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()
        assert (shown["status_reason"], bool(shown["consent"]["withdrawn_at"])) == ("consent_withdrawn", True)
        assert audit_rows(h, action="update", resource_id=rid, actor="admin-1")


def test_nobody_else_records_it_on_the_page_or_through_the_api(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    other = h.adviser(org=OTHER_ADVISERS)
    assert post(h, f"/queue/{rid}/consent-withdrawal", {}, other).status_code == 404
    assert h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=other).status_code == 404
    resident = h.token("resident", None, "resident-1")  # the person withdraws through their own link
    assert post(h, f"/queue/{rid}/consent-withdrawal", {}, resident).status_code == 403
    assert h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=resident).status_code == 403
    assert h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["consent"]["withdrawn_at"] is None


def test_a_cancel_with_the_reason_consent_withdrawn_is_refused_on_the_page(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    version = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["version"]
    refused = post(h, f"/queue/{rid}/act", {"action": "cancel", "version": version, "reason": "consent_withdrawn"},
                   h.gp())
    assert refused.status_code == 422
    assert "Record that the person withdrew consent" in refused.get_data(as_text=True)
    assert h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["status"] == "submitted"


def self_referred(h) -> str:
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                   "email": "sam@example.org"}, "consent": {"explicit": True, "updates_by_email": True},
        "employment_situation": "unemployed"}).get_json()
    verified = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    return verified.get_json()["status_link"]


def test_the_person_can_withdraw_consent_after_their_referral_ended(harness):
    h = harness
    link = self_referred(h)
    rid = h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]["id"]
    assert "Stop my referral" in page(h, link, {})
    h.act(rid, "reject", reason="out_of_area")
    html = page(h, link, {})
    assert "Stop my referral" not in html and "Withdraw my consent" in html
    token = link.rsplit("/", 1)[1]
    assert "Yes, withdraw my consent" in page(h, f"/my-referral/{token}/withdraw", {})  # it asks first
    assert post(h, f"/my-referral/{token}/cancel", {"withdraw_consent": "yes"}, {}).status_code == 303
    html = page(h, link, {})
    assert "You withdrew your consent" in html and "Withdraw my consent" not in html
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["consent"]["withdrawn_at"]


def test_the_self_referral_form_lists_every_problem_in_the_first_round(harness):
    h = harness
    html = page(h, "/refer-yourself", {})
    assert " checked" not in html  # no situation is chosen for the person
    assert all(f'id="birth_date-{part}"' in html for part in ("day", "month", "year"))
    assert 'type="date"' not in html
    refused = post(h, "/refer-yourself", {}, {})
    assert refused.status_code == 422
    summary = re.findall(r'<li><a href="#([\w-]+)">([^<]+)</a>', refused.get_data(as_text=True))
    assert summary == [
        ("given_name", "Enter your first name"), ("family_name", "Enter your last name"),
        ("birth_date-day", "Enter your date of birth"),
        ("email", "Give an email address or a phone number so we can check it is you"),
        ("employment_situation", "Choose which describes you best"),
        ("updates_by_email", "Select yes if we can email you updates about your referral"),
        ("consent", "Tick the box to agree, so we can pass your details on")]


def test_the_date_of_birth_is_three_boxes_and_must_be_a_real_date(harness):
    h = harness
    form = {"given_name": "Sam", "family_name": "Jones", "birth_date-day": "31", "birth_date-month": "2",
            "birth_date-year": "1990", "postcode": "GL1 1AA", "email": "sam@example.org", "consent": "yes",
            "updates_by_email": "yes", "employment_situation": "unemployed"}
    refused = post(h, "/refer-yourself", form, {}).get_data(as_text=True)
    assert "Date of birth must be a real date, like 15 3 1984" in refused
    assert 'value="31"' in refused and 'value="1990"' in refused  # what was typed is kept
    accepted = post(h, "/refer-yourself", {**form, "birth_date-day": "28"}, {})
    code_page = page(h, accepted.headers["Location"], {})
    assert accepted.status_code == 303 and "<h1>Check your email</h1>" in code_page
    assert "<title>Check your email – " in code_page  # the tab says what the heading says
    help_ = re.search(r'<details class="nhsuk-details" id="no-code">(.*?)</details>', code_page, re.S).group(1)
    assert "I have not received the email" in help_ and '<a href="/refer-yourself">start your referral again</a>' in help_


def test_the_refused_form_showing_what_the_person_typed_is_kept_out_of_caches(harness):
    """Nobody is signed in and the address holds no secret, yet the page shows the person's name, birth
    date and email back: on a library's shared computer the back button must not bring it up again."""
    form = {"given_name": "Sam", "family_name": "Jones", "birth_date-day": "31", "birth_date-month": "2",
            "birth_date-year": "1990", "postcode": "GL1 1AA", "email": "sam@example.org", "consent": "yes",
            "updates_by_email": "yes", "employment_situation": "unemployed"}
    refused = post(harness, "/refer-yourself", form, {})
    assert refused.status_code == 422 and 'value="sam@example.org"' in refused.get_data(as_text=True)
    assert refused.headers["Cache-Control"] == "no-store"


def test_the_insights_page_shows_every_breakdown_and_its_reads_are_audited(harness):
    h = harness
    for i in range(6):
        h.refer({"nhs_number": nhs_number(i, 52), "given_name": f"I{i}", "sex": "female"})
    html = page(h, "/alliance/insights", h.admin())
    for heading in ("By area deprivation decile", "By age band", "By sex", "By ethnic group", "By source of referral",
                    "Outcome rates"):
        assert heading in html
    assert re.search(r"<h2>Rejection reasons</h2>\s*<p>None.</p>", html)  # nothing rejected: says so
    assert "Sustained job outcome" in html
    assert "fewer than 5 referrals,\n  are not shown" in html and "null" not in html  # the API's word for programs
    reads = audit_rows(h, resource_type="insights")
    assert [(r.action, r.resource_id, r.actor, r.person_id) for r in reads] == [("read", "alliance", "admin-1", None)]


def test_the_insights_page_shows_each_groups_referrals_by_status_and_by_reason(harness):
    """Two two-way tables per breakdown, each with its caption, statuses and reasons in words, and a count hidden to
    protect a small one shown as the page shows any figure withheld: a dash."""
    h = harness
    people = [("female", None)] * 6 + [("female", "out_of_area")] * 6 + [("male", None)] * 7 + [
        ("male", "not_eligible")] * 5 + [("male", "duplicate")] * 2
    for i, (sex, reason) in enumerate(people):
        rid = h.refer({"nhs_number": nhs_number(i, 55), "given_name": f"T{i}", "sex": sex}).get_json()["id"]
        if reason:
            assert h.act(rid, "reject", reason=reason).status_code == 200
    sex = h.client.get("/insights", headers=h.admin()).get_json()["equity"]["sex"]
    assert sex["female"]["by_status"] == {"rejected": 6, "submitted": 6}
    assert sex["male"]["rejection_reasons"]["duplicate"] is None  # 2
    html = page(h, "/alliance/insights", h.admin())
    reasons = {"duplicate": "Duplicate", "not_eligible": "Not eligible", "out_of_area": "Out of area"}
    captions = {"status": "By sex: referrals by status", "reason": "By sex: rejected referrals by reason"}
    for what, field, words in (("status", "by_status", {"rejected": "Rejected", "submitted": "Submitted"}),
                               ("reason", "rejection_reasons", reasons)):
        table = re.search(rf'<table[^>]*id="equity-sex-by-{what}".*?</table>', html, re.S).group(0)
        caption = re.search(r"<caption[^>]*>(.*?)</caption>", table).group(1)
        assert caption == captions[what]
        assert "nhsuk-u-visually-hidden" not in table.split("</caption>")[0]  # a caption people see
        assert re.findall(r'scope="col">([^<]*)<', table) == ["Group", *words.values()]
        for group, words_of_group in (("female", "Female"), ("male", "Male")):
            row = re.search(rf"<tr[^>]*><td[^>]*><span[^>]*>Group </span>{words_of_group}</td>(.*?)</tr>", table,
                            re.S)
            cells = re.findall(r"<span[^>]*>([^<]*) </span>([^<]*)</td>", row.group(1))
            assert cells == [(words[code], "–" if n is None else str(n)) for code, n in sex[group][field].items()]
    assert "–" in html.split('id="equity-sex-by-reason"')[1].split("</table>")[0]


def test_the_insights_page_shows_a_count_hidden_to_protect_a_small_one_as_a_dash_not_fewer_than_5(harness):
    """7 submitted and 3 rejected: the 3 is hidden, and the 7 with it (the total would give the 3 away). The 7 is
    not "fewer than 5": the page shows both as a dash, as it shows any figure withheld, and says what a dash is."""
    h = harness
    for i in range(10):
        rid = h.refer({"nhs_number": nhs_number(i, 56), "given_name": f"D{i}", "sex": "female"}).get_json()["id"]
        if i < 3:
            assert h.act(rid, "reject", reason="not_eligible").status_code == 200
    published = h.client.get("/insights", headers=h.admin()).get_json()
    assert published["by_status"] == {"rejected": None, "submitted": None}
    assert published["equity"]["sex"]["female"]["referrals"] == 10
    html = page(h, "/alliance/insights", h.admin())
    section = html.split("<h2>By status</h2>")[1].split("<h2>")[0]
    assert re.search(r"<caption[^>]*>By status</caption>", section)  # the table keeps its caption
    assert re.findall(r"<span[^>]*>Referrals </span>([^<]*)</td>", section) == ["–", "–"]
    assert "fewer than" not in section
    note = "A dash (–) is a count hidden: from 1 to 4, or hidden so that a small count cannot be worked out."
    assert f'<p class="nhsuk-body-s">{note}</p>' in section
    by_source = html.split("<h2>By source</h2>")[1].split("<h2>")[0]
    assert re.findall(r"<span[^>]*>Referrals </span>([^<]*)</td>", by_source) == ["10"]
    assert "A dash" not in by_source  # nothing hidden there: no note
    assert "or larger and\n  hidden so that a small count cannot be worked out from it" in html
    assert "fewer than 5" not in html.replace("fewer than 5 referrals,", "")  # no count is said to be fewer than 5


def test_a_referrer_whose_token_names_them_and_their_practice_is_named_so(harness):
    h = harness
    gp = h.token("gp", GP_PRACTICE, "dr.wu@practice.example.org")
    named = {"Authorization": "Bearer " + mint_token(h.settings.jwt, role="gp", org=GP_PRACTICE, subject="dr.wu@practice"
                                                     ".example.org", name="Dr Rosa Wu", org_name="Riverside Surgery")}
    rid = h.refer(headers=named).get_json()["id"]
    shown = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert shown["referrer"] == {"role": "gp", "name": "Dr Rosa Wu", "organisation_name": "Riverside Surgery"}
    html = page(h, f"/queue/{rid}", h.adviser())
    assert re.search(r'id="referrer">([^<]*)<', html).group(1).startswith("Dr Rosa Wu at Riverside Surgery, ")
    assert "dr.wu" not in html
    mine = page(h, f"/queue/{rid}", gp)  # read at the practice (without the name claims)
    assert re.search(r'id="referrer">([^<]*)<', mine).group(1).startswith("Dr Rosa Wu at your practice, ")


def test_the_referral_page_names_the_referrer_in_words_never_by_their_login_id(harness):
    """The referrer's login id (a JWT sub, here an e-mail address) is on the referral, and the consent was
    recorded by them: the adviser reads who referred (role and organisation) and 'by the referrer'."""
    h = harness
    gp = h.token("gp", GP_PRACTICE, "dr.who@practice.example.org")
    rid = h.refer(headers=gp).get_json()["id"]
    for reader, place in ((h.adviser(), f"A GP at practice {GP_PRACTICE}"), (gp, "A GP at your practice")):
        html = page(h, f"/queue/{rid}", reader)
        assert "dr.who" not in html
        referrer = re.search(r'id="referrer">([^<]*)<', html).group(1)
        assert referrer.startswith(place + ", ")
        assert "by the referrer;" in html


def banner(html: str) -> str | None:
    """The success banner's heading and text, or None without one."""
    found = re.search(r'id="success-banner".*?__heading">([^<]*)</p>(?:\s*<p class="nhsuk-body">([^<]*)</p>)?',
                      html, re.S)
    return found and " ".join(part for part in found.groups() if part)


def act_on_page(h, rid, action, headers, **fields):
    version = h.client.get(f"/referrals/{rid}", headers=headers).get_json()["version"]
    posted = post(h, f"/queue/{rid}/act", {"action": action, "version": version, **fields}, headers)
    assert posted.status_code == 303, posted.get_data(as_text=True)
    return posted.headers["Location"]


def test_each_form_on_the_referral_page_says_what_it_did(harness):
    """The page reloads after each form: the banner says what was done, so a click that changed a status
    or only added a line to a list is not left for the adviser to spot."""
    h = harness
    rid = h.refer().get_json()["id"]
    adviser = h.adviser()
    assert banner(page(h, f"/queue/{rid}", adviser)) is None
    landed = act_on_page(h, rid, "acknowledge", adviser)
    assert landed == f"/queue/{rid}?done=acknowledge"
    assert banner(page(h, landed, adviser)) == "Referral acknowledged Accept it or reject it next."
    landed = act_on_page(h, rid, "accept", adviser)
    assert banner(page(h, landed, adviser)).startswith("Referral accepted onto the waitlist")
    landed = act_on_page(h, rid, "assign", adviser, claim="yes")
    assert banner(page(h, landed, adviser)) == "Referral taken on It is assigned to you."
    landed = act_on_page(h, rid, "record_contact_attempt", adviser, channel="phone", result="no_answer")
    assert banner(page(h, landed, adviser)) == "Contact attempt logged"

    noted = post(h, f"/queue/{rid}/notes", {"text": "Left a voicemail."}, adviser)
    html = page(h, noted.headers["Location"], adviser)
    assert banner(html) == "Note saved" and 'href="#notes">See the notes</a>' in html


def test_a_refused_form_or_a_made_up_code_shows_no_banner(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    adviser = h.adviser()
    assert banner(page(h, f"/queue/{rid}?done=<b>hacked</b>", adviser)) is None
    version = h.client.get(f"/referrals/{rid}", headers=adviser).get_json()["version"]
    refused = post(h, f"/queue/{rid}/act?done=acknowledge", {"action": "reject", "version": version}, adviser)
    assert refused.status_code == 422 and banner(refused.get_data(as_text=True)) is None


def test_the_person_is_told_their_referral_is_stopped_and_their_consent_withdrawn(harness):
    h = harness
    link = self_referred(h)
    token = link.rsplit("/", 1)[1]
    stopped = post(h, f"/my-referral/{token}/cancel", {}, {})
    assert stopped.headers["Location"] == f"/my-referral/{token}?done=stopped"
    assert banner(page(h, stopped.headers["Location"], {})) == (
        "Your referral is stopped The employment support service will not take it any further.")
    again = post(h, f"/my-referral/{token}/cancel", {}, {})  # the page left open in another tab: nothing done
    assert again.headers["Location"] == f"/my-referral/{token}"
    withdrawn = post(h, f"/my-referral/{token}/cancel", {"withdraw_consent": "yes"}, {})
    assert banner(page(h, withdrawn.headers["Location"], {})) == (
        "Your consent is withdrawn We no longer share anything about you.")

    token = self_referred(h).rsplit("/", 1)[1]
    both = post(h, f"/my-referral/{token}/cancel", {"withdraw_consent": "yes"}, {})
    assert banner(page(h, both.headers["Location"], {})).startswith(
        "Your referral is stopped and your consent withdrawn")


def test_the_referral_page_gives_the_situation_and_how_consent_was_given_in_words(harness):
    from worklink_referrals.pages.views import CONSENT_WORDS, SITUATIONS
    from worklink_referrals.schemas import CONSENT_METHODS, EMPLOYMENT

    assert set(SITUATIONS) == set(EMPLOYMENT) and set(CONSENT_WORDS) == set(CONSENT_METHODS)  # none left as a code
    h = harness
    rid = h.refer().get_json()["id"]
    html = page(h, f"/queue/{rid}", h.adviser())
    assert "Off sick from their job, with a fit note" in html and "off sick fit note" not in html
    assert ">Given verbally, " in html


def test_nothing_is_chosen_for_the_adviser_so_a_click_alone_records_nothing(harness):
    """A select opening on its first option ('Phone', 'No answer') let a click on 'Log attempt' record an
    attempt nobody made; every choice now starts empty and the form says what is missing."""
    h = harness
    rid = h.refer().get_json()["id"]
    adviser = h.adviser()
    act_on_page(h, rid, "accept", adviser, claim="yes")
    html = page(h, f"/queue/{rid}", adviser)
    selects = re.findall(r'<select[^>]*id="([\w-]+)"[^>]*>(.*?)</select>', html, re.S)
    assert len(selects) == 4  # how, result, the hold reason, the close reason
    for select, options in selects:
        assert re.findall(r'<option value="([^"]*)" selected', options) == [""], select
        assert options.strip().startswith('<option value=""'), select
    version = h.client.get(f"/referrals/{rid}", headers=adviser).get_json()["version"]
    refused = post(h, f"/queue/{rid}/act", {"action": "record_contact_attempt", "version": version,
                                            "channel": "", "result": ""}, adviser)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'href="#record_contact_attempt-channel">Select how you tried to contact them</a>' in html
    assert h.client.get(f"/referrals/{rid}", headers=adviser).get_json()["attempts"] == []


def test_the_front_page_leads_a_resident_without_a_link_on(make_harness):
    from worklink_referrals.config import ReferralSettings

    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, directory_url="https://directory.example"))
    html = page(h, "/", {})
    assert '<a href="/refer-yourself">refer yourself' in html
    assert '<a href="https://directory.example/find">find other local\n  support</a>' in html
    assert "/refer-yourself" not in page(h, "/", h.adviser())  # staff get their own pages instead


def test_a_stopped_referral_was_with_its_service_no_longer_is(make_harness):
    from worklink_referrals.config import ReferralSettings

    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, directory_url="https://directory.example"))
    h.add_service()
    link = self_referred(h)
    assert "Your referral is with <a" in page(h, link, {})
    post(h, f"/my-referral/{link.rsplit('/', 1)[1]}/cancel", {}, {})
    html = page(h, link, {})
    assert "Your referral was with <a" in html and "Your referral is with" not in html


def test_the_referrers_list_says_none_yet_for_outcomes_it_will_be_told(harness):
    """The person agreed their outcomes go back to the referrer, and none is recorded yet: the cell says so
    rather than standing empty beside 'Not shared' on other rows."""
    h = harness
    h.refer()
    html = page(h, "/sent", h.gp())
    assert re.search(r"Outcomes </span>None yet</td>", html)


def test_the_history_says_each_step_and_who_took_it_in_words(harness):
    from worklink_referrals.domain import ACTIONS
    from worklink_referrals.pages.views import HISTORY_STEPS

    assert set(ACTIONS) <= set(HISTORY_STEPS)  # a new action is worded before it shows as a code
    h = harness
    rid = h.refer().get_json()["id"]
    act_on_page(h, rid, "accept", h.adviser(), claim="yes")
    act_on_page(h, rid, "record_contact_attempt", h.adviser(), channel="phone", result="no_answer")
    history = re.search(r'<ol class="nhsuk-list nhsuk-list--number">(.*?)</ol>', page(h, f"/queue/{rid}", h.adviser()),
                        re.S).group(1)
    moment = r"^\d{1,2} \w{3} \d{4}, \d\d:\d\d (GMT|BST): "  # "23 Nov 2026, 09:00 GMT: "
    steps = [re.sub(moment, "", step) for step in re.findall(r"<li>(.*?)</li>", history)]
    assert steps == ["Referral made by a GP or other clinician. Status: Submitted.",
                     "Accepted by an employment adviser. Status: Accepted.",
                     "Contact attempt logged by an employment adviser. Status: Accepted."]


def test_the_referral_page_leaves_no_row_blank_and_no_code_in_attempts_or_targets(harness):
    h = harness
    self_referred(h)  # a self-referral gives no reason
    rid = h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]["id"]
    act_on_page(h, rid, "accept", h.adviser(), claim="yes")
    act_on_page(h, rid, "record_contact_attempt", h.adviser(), channel="in_person", result="left_message")
    html = page(h, f"/queue/{rid}", h.adviser())
    assert re.search(r"Reason</dt><dd[^>]*>Not given</dd>", html)
    assert re.search(r'id="attempts"><li>[^<]*: In person, left message</li>', html)
    assert "– not met yet</li>" in html and "– open" not in html


def test_a_refused_form_no_longer_on_the_page_is_explained_not_linked_to_nothing(harness):
    """A form posted after the referral moved on (a colleague completed it meanwhile, in another tab) and refused
    by the schema re-showed the page without that form: the summary linked '#cancel-reason', which no field had,
    and did not say why the form had gone."""
    h = harness
    rid = completed(h)  # cancelling is no longer offered
    version = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["version"]
    refused = post(h, f"/queue/{rid}/act", {"action": "cancel", "reason": "no-such-reason", "version": version},
                   h.gp())
    body = refused.get_data(as_text=True)
    assert refused.status_code == 409
    box = re.search(r'nhsuk-error-summary__list">(.*?)</ul>', body, re.S).group(1)
    assert not [t for t in re.findall(r'<a href="#([^"]+)"', box) if f'id="{t}"' not in body]
    assert "This can no longer be done: the referral has changed since the page was loaded." in box


def test_an_adviser_taking_on_more_than_the_caseload_guidance_is_warned_on_the_page(make_harness):
    """IPS caseload guidance on the pages: the adviser who takes a referral on from its page hears they now hold
    more active clients than the limit there (as the API's answer says), and the queue says it while they do."""
    from worklink_referrals.config import ReferralSettings

    h = make_harness(referral_settings=ReferralSettings(caseload_limit=2))
    h.add_service()
    ids = [h.refer({"nhs_number": nhs_number(i, 43), "given_name": f"C{i}"}).get_json()["id"] for i in range(3)]

    def take_on(rid, action):
        version = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["version"]
        answer = post(h, f"/queue/{rid}/act", {"action": action, "version": version, "claim": "yes"}, h.adviser())
        assert answer.status_code == 303
        return page(h, answer.headers["Location"], h.adviser())

    within = take_on(ids[0], "accept")
    assert "Referral accepted" in within and 'id="caseload-warning"' not in within
    assert "You hold 1 active clients (guidance: at most 2)" in page(h, "/queue", h.adviser())
    h.act(ids[1], "accept")  # waitlisted, then taken on from its page: the second
    assert 'id="caseload-warning"' not in take_on(ids[1], "assign")
    over = take_on(ids[2], "accept")
    assert 'id="caseload-warning"' in over and "You hold 3 active clients, more than the 2" in over
    assert "You hold 3 active clients, more than the 2" in page(h, "/queue", h.adviser())
    # Read again later, or by anyone else, the referral page does not repeat it.
    assert 'id="caseload-warning"' not in page(h, f"/queue/{ids[2]}", h.adviser())
    assert 'id="caseload-warning"' not in page(h, f"/queue/{ids[2]}?done=accept", h.adviser("adviser-2"))


def test_the_referral_pages_status_line_names_the_stage(harness):
    """It read 'Accepted allocated': the business status reads as the stage it is."""
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    line = re.search(r'<strong class="nhsuk-tag" id="status">(.*?)</p>', page(h, f"/queue/{rid}", h.adviser()), re.S)
    assert " ".join(re.sub(r"<[^>]+>", " ", line.group(1)).split()).startswith("Accepted · Stage: allocated · Adviser:")
