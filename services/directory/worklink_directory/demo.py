"""The demo directory: a few hundred invented, plausible services across Somerset's towns.

DEMO DATA - every organisation, service, address and phone number here is invented
(phone numbers are in Ofcom's drama range, emails on example.org). It is generated
deterministically as an ORUK 3.0 feed and loaded through the importer, so the same
seed always produces the same ids and re-seeding changes nothing.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Iterator

# The demo's ids are shared (worklink.demo), so the other services' demo data name these listings; the
# directory's seed and tests read them from here as well (demo.term_id, demo.organisation_id).
from worklink.demo import NS, STAFF_DEMO_ORGANISATION, adviser_token_command, organisation_id, service_id, term_id
from worklink_directory.geocode import OfflineGeocoder
TAXONOMY = {"id": str(uuid.uuid5(NS, "taxonomy")), "name": "WorkLink health and work service types",
            "description": "Demo service-type taxonomy for health and work support, modelled on the LGA/esd "
                           "service types list.",
            "uri": "https://worklink.example/taxonomies/service-types", "version": "demo-1"}

# code, name, description, parent code
TERMS = [
    ("employment-advice", "Employment advice", "Help to find, keep or return to work.", None),
    ("ips", "Individual Placement and Support", "Specialist employment support alongside health treatment.",
     "employment-advice"),
    ("cv-interview", "CV and interview help", "Writing a CV and preparing for interviews.", "employment-advice"),
    ("mental-health", "Mental health and wellbeing", "Support for emotional wellbeing and mental health.", None),
    ("counselling", "Counselling and talking therapies", "Talking therapies and counselling.", "mental-health"),
    ("peer-support", "Peer support groups", "Groups run by people with lived experience.", "mental-health"),
    ("skills", "Skills and training", "Courses, qualifications and learning.", None),
    ("digital-skills", "Digital skills", "Using computers, phones and the internet.", "skills"),
    ("benefits", "Benefits advice", "Checking and claiming benefits, including Universal Credit.", None),
    ("debt", "Debt and money advice", "Managing debt, budgeting and money worries.", None),
    ("employer-wellbeing", "Employer wellbeing programmes", "Support for employers to keep staff well at work.",
     None),
    ("physical-health", "Physical health and musculoskeletal", "Back, joint and long-term condition support.", None),
    ("carers", "Support for carers", "Help for people who care for someone.", None),
    ("neurodiversity", "Neurodiversity: autism, ADHD and dyslexia",
     "Support for autistic people and people with ADHD, dyslexia or other neurodivergent conditions.", None),
    ("menopause", "Menopause support", "Help with perimenopause and menopause symptoms, at home and at work.", None),
    ("substance-misuse", "Alcohol and drug support",
     "Treatment, recovery and harm reduction for drinking and drug use.", None),
    ("housing", "Housing and homelessness advice", "Help to keep or find a home, and to deal with homelessness.", None),
]


def _term(code: str) -> dict:
    _code, name, description, parent = next(t for t in TERMS if t[0] == code)
    body = {"id": term_id(code), "name": name, "description": description, "code": code,
            "taxonomy": TAXONOMY["name"], "taxonomy_id": TAXONOMY["id"],
            "taxonomy_detail": {"id": TAXONOMY["id"], "name": TAXONOMY["name"],
                                "description": TAXONOMY["description"], "uri": TAXONOMY["uri"]}}
    if parent:
        body["parent_id"] = term_id(parent)
    return body


TOWNS = {"Taunton": ["TA1", "TA2"], "Bridgwater": ["TA6"], "Burnham-on-Sea": ["TA8"], "Chard": ["TA20"],
         "Wellington": ["TA21"], "Minehead": ["TA24"], "Crewkerne": ["TA18"], "Yeovil": ["BA20", "BA21"],
         "Frome": ["BA11"], "Wells": ["BA5"], "Glastonbury": ["BA6"], "Street": ["BA16"],
         "Shepton Mallet": ["BA4"], "Somerton": ["TA11"]}

ORGANISATIONS = [
    ("{town} Citizens Advice", "Independent advice on benefits, debt, work and housing."),
    ("{town} Mind", "Local mental health charity."),
    ("Somerset Working Well Partnership", "NHS and council partnership for health and work."),
    ("{town} Community Learning", "Adult and community learning courses."),
    ("Somerset Talking Therapies (demo)", "NHS talking therapies service."),
    ("{town} Volunteer Centre", "Volunteering and community groups."),
    ("Somerset Neurodiversity Hub (demo)", "Charity run by and for autistic people and people with ADHD."),
    ("Somerset Women's Health Hub (demo)", "NHS women's health service, including menopause care."),
    ("Clearwater Recovery Somerset (demo)", "Drug and alcohol treatment and recovery service."),
    ("Somerset Housing Advice Service (demo)", "Housing advice and homelessness prevention."),
    ("Somerset MSK Physiotherapy (demo)", "NHS physiotherapy for muscle, bone and joint problems."),
    ("Somerset Long COVID and Fatigue Service (demo)", "NHS rehabilitation for long COVID and post-viral fatigue."),
    ("Carers Together Somerset (demo)", "Support for unpaid carers."),
]

# name pattern, org index, term codes, description, how to get help, delivery, ages, free. The first is the
# specialist employment advice the other services' demo data route to (worklink.demo.EMPLOYMENT_ADVICE_LISTING).
SERVICES = [
    ("Working Well employment advice in {town}", 2, ["employment-advice", "ips"],
     "One-to-one support from a specialist employment adviser if your health makes it hard to find or keep work. "
     "Works alongside your GP or mental health team.", "Ask your GP to refer you, or refer yourself by phone.",
     ["in_person", "telephone"], (16, None), True),
    ("Back to work CV clinic, {town}", 3, ["cv-interview", "employment-advice"],
     "Drop-in help to write or update your CV, fill in job applications and practise interviews.",
     "Drop in during opening times; bring any CVs or job adverts.", ["in_person"], (16, None), True),
    ("{town} counselling service", 1, ["counselling", "mental-health"],
     "Short-term counselling for anxiety, depression, stress and difficult life events, with trained counsellors.",
     "Fill in a self-referral form or call us; we aim to offer a first appointment within three weeks.",
     ["in_person", "telephone", "online"], (18, None), True),
    ("Wellbeing cafe, {town}", 1, ["peer-support", "mental-health"],
     "A relaxed weekly peer support group for anyone whose wellbeing is affecting their work or daily life.",
     "Just turn up; no referral needed.", ["in_person"], (18, None), True),
    ("Benefits check and Universal Credit help, {town}", 0, ["benefits"],
     "Find out which benefits you can claim, get help with Universal Credit, PIP and sick pay, and appeals.",
     "Call the advice line or book an appointment online.", ["in_person", "telephone"], (None, None), True),
    ("Debt and money advice, {town}", 0, ["debt"],
     "Free, confidential help with debts, arrears, budgeting and dealing with creditors.",
     "Call the advice line; have your letters and bills to hand.", ["in_person", "telephone"], (18, None), True),
    ("Digital skills for work, {town}", 3, ["digital-skills", "skills"],
     "Learn to use email, online job sites and video calls. Laptops provided.",
     "Book a place on the next course by phone or email.", ["in_person"], (19, None), True),
    ("Maths and English for adults, {town}", 3, ["skills"],
     "Free functional skills courses in maths and English to help you progress at work.",
     "Enrol at an advice session at the centre.", ["in_person", "online"], (19, None), True),
    ("Healthy workplaces programme for {town} employers", 2, ["employer-wellbeing"],
     "Advice and training for employers to support staff with health conditions and make reasonable adjustments.",
     "Employers can request a free workplace health review.", ["in_person", "online"], (None, None), True),
    ("Talking therapies for work stress, {town}", 4, ["counselling", "mental-health"],
     "NHS cognitive behavioural therapy and counselling for stress, anxiety and low mood, with employment advisers.",
     "Refer yourself online or by phone; you do not need to see your GP first.",
     ["telephone", "online", "in_person"], (18, None), True),
    ("Back pain and joint health classes, {town}", 2, ["physical-health"],
     "Group exercise and advice for people with back, neck and joint pain who want to stay in work.",
     "Ask your GP or physiotherapist to refer you.", ["in_person"], (18, None), True),
    ("Carers' employment support, {town}", 5, ["carers", "employment-advice"],
     "Help for unpaid carers to balance work and caring, including talking to your employer.",
     "Call or email to arrange a conversation.", ["telephone", "in_person"], (16, None), True),
    ("Young people's job club, {town}", 5, ["employment-advice", "cv-interview"],
     "A weekly job club for 16 to 24 year olds: job searching, applications and confidence building.",
     "Drop in on Wednesdays.", ["in_person"], (16, 24), True),
    ("Mindfulness course for working people, {town}", 1, ["mental-health"],
     "An eight-week evening mindfulness course to manage stress and improve wellbeing.",
     "Book online; a small charge applies, with free places for people on low incomes.",
     ["in_person", "online"], (18, None), False),
    ("Volunteering for confidence, {town}", 5, ["skills", "peer-support"],
     "Supported volunteering placements to build skills, routine and confidence before returning to work.",
     "Meet a volunteer coordinator; call to arrange.", ["in_person"], (16, None), True),
    ("Pension credit and sick pay advice line, {town}", 0, ["benefits", "debt"],
     "Telephone advice on statutory sick pay, Employment and Support Allowance and pension credit.",
     "Call the advice line on weekdays.", ["telephone"], (None, None), True),
    ("Condition management programme, {town}", 2, ["physical-health", "employment-advice"],
     "A six-week course for people with long-term conditions such as diabetes, arthritis or fatigue who want "
     "to stay in or return to work.", "Your GP, nurse or work coach can refer you.", ["in_person", "online"],
     (18, 67), True),
    ("Men's wellbeing walking group, {town}", 5, ["peer-support", "mental-health", "physical-health"],
     "A friendly weekly walk and chat for men going through a hard time, including stress at work or job loss.",
     "Meet at the start point; no need to book.", ["in_person"], (18, None), True),
]

ALL_TOWNS = None  # a specialist listing in every town

# Specialist services for the commonest reasons people fall out of work, or need help to stay in it, that the
# listings above do not cover. Each is offered only in the towns named (a real service has a few bases) and is
# drawn from its own random sequence, so adding one never changes the listings above.
# name pattern, org index, term codes, description, how to get help, delivery, ages, fees (None: free),
# towns, whether it takes people from the whole county.
SPECIALIST_SERVICES = [
    ("ADHD and autism at work advice, {town}", 6, ["neurodiversity", "employment-advice"],
     "One-to-one advice for adults with ADHD, autism, dyslexia or dyspraxia, diagnosed or not, on staying in or "
     "returning to work: workplace adjustments, Access to Work applications and explaining your needs to your "
     "employer.", "Refer yourself by phone or email; you do not need a diagnosis.",
     ["in_person", "telephone", "online"], (18, None), None, ["Taunton", "Bridgwater", "Yeovil", "Frome"], True),
    ("Neurodivergent adults' social group, {town}", 6, ["neurodiversity", "peer-support"],
     "A monthly, low-sensory meet-up for autistic adults and adults with ADHD, run by neurodivergent volunteers. "
     "Share tips on jobs, routines and the wait for an assessment.",
     "Just turn up, or email the organisers first.", ["in_person"], (18, None), None,
     ["Taunton", "Bridgwater", "Yeovil", "Wells", "Minehead"], False),
    ("Waiting for an ADHD or autism assessment: support sessions, {town}", 6, ["neurodiversity", "mental-health"],
     "Practical sessions for adults on the waiting list for an ADHD or autism assessment, or recently diagnosed: "
     "understanding attention deficit and autistic traits, managing focus, sleep and overwhelm, and asking for "
     "adjustments at work.", "Ask your GP to refer you, or refer yourself online.", ["online", "in_person"], (18, None),
     None, ["Taunton", "Yeovil"], True),
    ("Neuroinclusive workplaces training for {town} employers", 6, ["neurodiversity", "employer-wellbeing"],
     "Training and advice for employers and managers on supporting neurodivergent staff, including autistic staff "
     "and staff with ADHD or dyslexia: recruitment, reasonable adjustments and clear communication.",
     "Employers can book an introductory session by email.", ["in_person", "online"], (None, None),
     "£150 per workshop for large employers; free for small businesses and charities.", ["Taunton"], True),
    ("Menopause clinic, {town}", 7, ["menopause", "physical-health"],
     "NHS specialist clinic for complex perimenopause and menopause symptoms, including hot flushes, night sweats, "
     "poor sleep, brain fog and low mood, with advice on HRT and non-hormonal treatment.",
     "Your GP refers you to the clinic.", ["in_person", "telephone"], (18, None), None, ["Taunton", "Yeovil"], True),
    ("Menopause cafe, {town}", 7, ["menopause", "peer-support"],
     "A friendly monthly drop-in to share experiences of perimenopause and menopause, with tea and cake: symptoms, "
     "treatment, relationships and coping at work.", "Just turn up; no need to book.", ["in_person"], (18, None), None,
     ["Bridgwater", "Burnham-on-Sea", "Chard", "Minehead", "Frome", "Wells"], False),
    ("Menopause at work advice, {town}", 7, ["menopause", "employment-advice"],
     "Advice if menopause symptoms are affecting your job: talking to your manager, reasonable adjustments such as "
     "flexible hours, a cooler workspace or extra breaks, occupational health and your rights at work.",
     "Book a telephone or video appointment online.", ["telephone", "online"], (18, None), None, ["Taunton"], True),
    ("Menopause-friendly workplace training for {town} employers", 7, ["menopause", "employer-wellbeing"],
     "Workshops for managers and HR teams on supporting staff through the menopause: a workplace policy, "
     "adjustments and starting the conversation.", "Employers can request a workshop by email.",
     ["in_person", "online"], (None, None), None, ["Yeovil"], True),
    ("Drug and alcohol service, {town}", 8, ["substance-misuse"],
     "Free, confidential help if drinking or drug use is causing problems with your health, job or family: "
     "assessment, detox, substitute prescribing, one-to-one counselling and harm reduction.",
     "Refer yourself by phone or walk in, or ask your GP to refer you.", ["in_person", "telephone"], (18, None), None,
     ["Taunton", "Bridgwater", "Yeovil", "Frome", "Minehead", "Glastonbury"], False),
    ("Work and recovery coaching, {town}", 8, ["substance-misuse", "employment-advice"],
     "Employment support for people in recovery from alcohol or drug problems: CVs, disclosing past "
     "convictions, volunteering and finding work to support your recovery.",
     "Ask your recovery worker, or call us.", ["in_person", "telephone"], (18, None), None,
     ["Taunton", "Bridgwater", "Yeovil"], False),
    ("Young people's drug and alcohol support, {town}", 8, ["substance-misuse"],
     "Confidential support for young people troubled by their drinking or drug use, or a friend's or parent's.",
     "Text, call or ask a teacher, college tutor or youth worker to refer you.", ["in_person", "telephone", "online"],
     (13, 24), None, ["Taunton", "Yeovil"], True),
    ("Alcohol and drug recovery group, {town}", 8, ["substance-misuse", "peer-support"],
     "A weekly mutual aid group for anyone who wants to stop or reduce their drinking or drug use, led by people "
     "in recovery.", "Just turn up; no referral needed.", ["in_person"], (18, None), None,
     ["Wellington", "Chard", "Street", "Wells", "Shepton Mallet", "Burnham-on-Sea"], False),
    ("Housing and homelessness advice, {town}", 0, ["housing"],
     "Advice if you are homeless, at risk of losing your home or facing eviction: notices from your landlord, rent "
     "arrears, repairs, applying for council or housing association homes and your rights as a tenant.",
     "Call the advice line; if you have to leave your home today, call immediately.", ["in_person", "telephone"],
     (None, None), None, ALL_TOWNS, False),
    ("Homelessness prevention team, {town}", 9, ["housing"],
     "If you are homeless or at risk of homelessness within eight weeks: emergency accommodation, help to keep "
     "your tenancy, and support to find a settled home.",
     "Call the housing line; out of hours, call the emergency number.",
     ["in_person", "telephone"], (16, None), None, ["Taunton", "Bridgwater", "Yeovil", "Frome", "Wells"], True),
    ("Day centre for people sleeping rough, {town}", 9, ["housing"],
     "Breakfast, showers, laundry and a postal address for people who are homeless or sleeping rough, with "
     "housing, health and benefits advice on site.", "Just turn up in the morning.", ["in_person"], (18, None), None,
     ["Taunton", "Bridgwater", "Yeovil"], False),
    ("Tenancy support for people with health problems, {town}", 9, ["housing", "mental-health"],
     "Practical help from a support worker to keep your home during illness or a mental health crisis: paying "
     "rent and bills, benefits and dealing with your landlord.",
     "Your GP, mental health team or support worker can refer you, or refer yourself.", ["in_person", "telephone"],
     (18, None), None, ["Taunton", "Wellington", "Chard", "Crewkerne", "Minehead", "Burnham-on-Sea", "Glastonbury",
                        "Street", "Shepton Mallet", "Somerton"], False),
    ("MSK physiotherapy self-referral, {town}", 10, ["physical-health"],
     "NHS physiotherapy for back pain, neck pain, joint and muscle problems and sprains, with advice on staying at "
     "or returning to work.", "Refer yourself online or by phone; you do not need to see your GP first.",
     ["in_person", "telephone", "online"], (16, None), None,
     ["Taunton", "Bridgwater", "Yeovil", "Frome", "Wells", "Minehead", "Chard"], False),
    ("Chronic pain management programme, {town}", 10, ["physical-health", "mental-health"],
     "A ten-week group for people living with persistent pain, including back pain and fibromyalgia: pacing, "
     "movement, sleep, managing flare-ups and staying in work.",
     "Your GP or physiotherapist can refer you.", ["in_person", "online"], (18, None), None, ["Taunton", "Yeovil"],
     True),
    ("Long COVID and fatigue clinic, {town}", 11, ["physical-health"],
     "NHS assessment and rehabilitation for adults with long COVID or post-viral fatigue: "
     "breathlessness, exhaustion, brain fog and a phased return to work.",
     "Your GP can refer you if symptoms have lasted 12 weeks.", ["in_person", "telephone", "online"],
     (18, None), None, ["Taunton", "Yeovil"], True),
    ("Fatigue management group, {town}", 11, ["physical-health", "peer-support"],
     "An online group for people living with long COVID, ME/CFS or post-viral fatigue: pacing your energy, "
     "sleep and managing work.", "Ask the clinic or your GP for a place.", ["online"], (18, None), None,
     ["Bridgwater", "Frome"], True),
    ("Carers' support and breaks, {town}", 12, ["carers"],
     "Information, a carers' assessment, an emergency plan, short breaks and a listening ear for anyone caring "
     "for a family member or friend who is ill or disabled.", "Call the carers' line or email us.",
     ["telephone", "in_person"], (18, None), None,
     ["Taunton", "Bridgwater", "Yeovil", "Frome", "Minehead", "Chard", "Wells", "Burnham-on-Sea"], False),
    ("Young adult carers' group, {town}", 12, ["carers", "peer-support"],
     "A fortnightly group for carers aged 16 to 25 juggling caring with college, training or a first job.",
     "Call or email to join.", ["in_person"], (16, 25), None, ["Taunton", "Bridgwater", "Yeovil"], False),
]
# Specialist listings are numbered from here in their ids, so the list above can grow without renumbering.
SPECIALIST_FIRST = 100

STREETS = ["High Street", "Station Road", "Market Place", "Church Street", "Victoria Road", "Priory Way",
           "Mill Lane", "Park Street", "North Street", "Silver Street"]
ACCESS = ["Step-free access and an accessible toilet.", "Venue is on one level; hearing loop available.",
          "Wheelchair access via the side entrance; guide dogs welcome.", "First-floor rooms with a lift."]
COURSE_FEE = "£40 for the course; free places for people on low incomes."
REVIEWED_BY = date(2026, 11, 1)  # the demo's listings were last checked in the 100 days before this
SESSIONS = [("09:00", "17:00"), ("09:30", "16:30"), ("10:00", "14:00"), ("13:00", "19:00"), ("18:00", "20:30")]


def _postcodes_by_outcode() -> dict[str, list[str]]:
    by: dict[str, list[str]] = {}
    for postcode in OfflineGeocoder.demo().rows:
        if " " in postcode:
            by.setdefault(postcode.split(" ")[0], []).append(postcode)
    return by


def demo_records(copies: int = 1) -> Iterator[dict]:
    """The demo feed: ORUK 3.0 service records. `copies` > 1 makes a bigger directory (benchmarks)."""
    rng = random.Random(20261125)
    postcodes = _postcodes_by_outcode()
    geocoder = OfflineGeocoder.demo()
    for copy in range(copies):
        for town, outcodes in TOWNS.items():
            for index, (pattern, org_index, codes, description, how, delivery, ages, free) in enumerate(SERVICES):
                if rng.random() < 0.08 and copies == 1:
                    continue  # not every town has every service
                confidential = index == 11 and town == "Yeovil"  # one carers' refuge-style listing
                yield _record(rng, postcodes, geocoder, copy, town, index, pattern, org_index, codes, description,
                              how, delivery, ages, None if free else COURSE_FEE, county_wide=org_index == 4,
                              confidential=confidential)
        specialist_rng = random.Random(20261127 + copy)
        for index, (pattern, org_index, codes, description, how, delivery, ages, fees, towns,
                    county_wide) in enumerate(SPECIALIST_SERVICES):
            for town in towns or TOWNS:
                yield _record(specialist_rng, postcodes, geocoder, copy, town, SPECIALIST_FIRST + index, pattern,
                              org_index, codes, description, how, delivery, ages, fees, county_wide=county_wide)


def _record(rng: random.Random, postcodes: dict, geocoder: OfflineGeocoder, copy: int, town: str, listing: int,
            pattern: str, org_index: int, codes: list[str], description: str, how: str, delivery: list[str],
            ages: tuple, fees: str | None, *, county_wide: bool, confidential: bool = False) -> dict:
    """One demo listing: a town's service of one pattern, its details drawn from `rng`."""
    outcodes = TOWNS[town]
    key = f"{copy}:{town}:{listing}"
    org_name, org_description = ORGANISATIONS[org_index]
    org_name = org_name.format(town=town)
    org_id = organisation_id(org_name)
    postcode = rng.choice(postcodes[rng.choice(outcodes)])
    point = geocoder.locate(postcode)
    name = pattern.format(town=town) + (f" ({copy + 1})" if copy else "")
    slug = "".join(ch for ch in org_name.lower() if ch.isalnum())[:30]
    start, end = rng.choice(SESSIONS)
    days = rng.sample(["MO", "TU", "WE", "TH", "FR"], k=rng.randint(1, 5)) + (["SA"] if rng.random() < 0.2 else [])
    record = {
        "id": service_id(town, listing, copy), "organization_id": org_id, "name": name,
        "description": description, "status": "active",
        "email": f"help@{slug}.example.org", "url": f"https://{slug}.example.org/",
        "organization": {"id": org_id, "name": org_name, "description": org_description + " (demo)",
                         "website": f"https://{slug}.example.org/"},
        "application_process": how, "x_delivery_modes": delivery, "x_demo": True,
        "attributes": [{"id": str(uuid.uuid5(NS, f"attr:{key}:{c}")), "taxonomy_term_id": term_id(c),
                        "link_type": "service", "taxonomy_term": _term(c)} for c in codes],
        "schedules": [{"id": str(uuid.uuid5(NS, f"sched:{key}")), "freq": "WEEKLY",
                       "byday": ",".join(sorted(days, key=["MO", "TU", "WE", "TH", "FR", "SA"].index)),
                       "opens_at": start, "closes_at": end}],
        "contacts": [{"id": str(uuid.uuid5(NS, f"contact:{key}")), "name": "Advice line",
                      "phones": [{"id": str(uuid.uuid5(NS, f"phone:{key}")), "number": f"01632 {960000 + rng.randint(0, 999):06d}"[:12]}]}],
        "service_at_locations": [{"id": str(uuid.uuid5(NS, f"sal:{key}")), "location": {
            "id": str(uuid.uuid5(NS, f"loc:{key}")), "location_type": "physical",
            "name": f"{town} {rng.choice(['Community Centre', 'Library', 'Health Centre', 'Hub'])}",
            "latitude": point.latitude, "longitude": point.longitude,
            "addresses": [{"id": str(uuid.uuid5(NS, f"addr:{key}")), "address_1": f"{rng.randint(1, 120)} {rng.choice(STREETS)}", "city": town,
                           "state_province": "Somerset", "postal_code": postcode, "country": "GB",
                           "address_type": "physical"}],
            "accessibility": [{"id": str(uuid.uuid5(NS, f"access:{key}")),
                               "description": rng.choice(ACCESS)}],
            "x_confidential": confidential}}],
    }
    record["service_areas"] = [_area(key, town, outcodes, county_wide=county_wide)]
    if ages[0] is not None:
        record["minimum_age"] = ages[0]
    if ages[1] is not None:
        record["maximum_age"] = ages[1]
    if fees:
        record["fees"] = fees
    if rng.random() < 0.9:  # most listings were checked recently; some are overdue
        record["assured_date"] = (REVIEWED_BY - timedelta(days=rng.randint(0, 100))).isoformat()
        record["assurer_email"] = f"listings@{slug}.example.org"
    return record


def _area(key: str, town: str, outcodes: list[str], county_wide: bool) -> dict:
    """Who a demo listing takes: its town's postcode districts, or the whole demo county."""
    districts = sorted({c for codes in TOWNS.values() for c in codes}) if county_wide else outcodes
    name = "Somerset" if county_wide else f"{town} and nearby"
    return {"id": str(uuid.uuid5(NS, f"area:{key}")), "name": name, "extent_type": "text",
            "extent": "Postcode districts " + ", ".join(districts), "x_postcode_districts": districts}


def ensure_taxonomy(session) -> None:
    """Create the demo taxonomy and its terms (parents first) if they are missing."""
    from worklink_directory.models import Taxonomy, TaxonomyTerm

    if session.get(Taxonomy, uuid.UUID(TAXONOMY["id"])) is None:
        session.add(Taxonomy(id=uuid.UUID(TAXONOMY["id"]), name=TAXONOMY["name"], description=TAXONOMY["description"],
                             uri=TAXONOMY["uri"], version=TAXONOMY["version"]))
        session.flush()
    for code, name, description, parent in TERMS:
        if session.get(TaxonomyTerm, uuid.UUID(term_id(code))) is None:
            session.add(TaxonomyTerm(id=uuid.UUID(term_id(code)), taxonomy_id=uuid.UUID(TAXONOMY["id"]), code=code,
                                     name=name, description=description,
                                     parent_id=uuid.UUID(term_id(parent)) if parent else None))
            session.flush()
