"""How long the adjustments service takes to draw each kind of letter PDF: the employer letter and the
patient summary for names in Latin-1, beyond it, Arabic, Devanagari and Chinese, a long letter and a draft.

    .venv/bin/python bench/letter_pdfs.py                      # this tree
    .venv/bin/python bench/letter_pdfs.py --against 4e703f7    # and that revision, in interleaved rounds

Times are the process's CPU time per PDF (median of the rounds), which other work on a shared machine
disturbs less than wall time. `--against` loads that revision's letters.py (and its tagged_pdf.py, if it
has one) beside this tree's, with this tree's fonts.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from datetime import date, datetime, timezone
from pathlib import Path

from worklink_adjustments import letters

PACKAGE = "services/adjustments/worklink_adjustments"
NAMES = {"latin-1": ("Sam", "Patel"), "latin-ext": ("Łukasz", "Nguyễn"), "arabic": ("محمد", "علي"),
         "devanagari": ("राहुल", "पटेल"), "cjk": ("小龍", "李")}


def suggestion(given: str = "Sam", family: str = "Patel", status: str = "issued", repeat: int = 1) -> dict:
    """A suggestion as `letters` reads it: three changes, one with a week-by-week plan."""
    day = date(2026, 11, 20)
    return {
        "issuer": {"name": "Dr Ada Lovelace", "profession": "doctor"},
        "patient": {"nhs_number": "9434765919", "given_name": given, "family_name": family,
                    "birth_date": date(1985, 4, 12)},
        "assessment": {"date": day, "method": "face_to_face"},
        "conditions": [{"text": "Depression", "disclose": False}],
        "decision": "may_be_fit", "categories": ["altered_hours", "phased_return"],
        "functional_effects": "Tires quickly and finds it hard to concentrate for long; mornings are hardest. " * repeat,
        "recommendations": [
            {"title": "Phased return over four weeks", "difficulty": "Tiredness by mid-afternoon",
             "employer_text": "Build hours up over four weeks.", "free_text": None,
             "schedule": [{"week": 1, "plan": "4 hours a day, 3 days"}, {"week": 2, "plan": "5 hours a day, 4 days"}]},
            {"title": "Quieter workspace", "difficulty": "Noise makes concentrating hard",
             "employer_text": "A desk away from the loading bay.", "free_text": None, "schedule": []},
            {"title": None, "difficulty": "Early starts", "employer_text": None,
             "free_text": "Start at 10am for the first month.", "schedule": []}],
        "period": {"start": day, "end": date(2026, 12, 18)},
        "reassessment_needed": True, "review_date": date(2026, 12, 18), "job": {"title": "Warehouse supervisor"},
        "signposting": {"occupational_health": True, "access_to_work": True},
        "consent": {"share_with_employer": True, "refer_to_employment_adviser": False},
        "status": status, "updated_at": datetime(2026, 11, 20, tzinfo=timezone.utc), "referrals": [],
    }


def documents(module) -> dict:
    found = {}
    for label, (given, family) in NAMES.items():
        found[f"{label} letter"] = module.employer_letter(suggestion(given, family), "http://localhost/respond/a.b")
        found[f"{label} summary"] = module.patient_summary(suggestion(given, family))
    found["long letter"] = module.employer_letter(suggestion(repeat=30), "http://localhost/respond/a.b")
    found["draft letter"] = module.employer_letter(suggestion(status="draft"), None)
    return found


def load_revision(revision: str):
    """`letters` as it was at a revision (its imports of this package's modules kept, tagged_pdf its own)."""
    def source(name: str) -> str | None:
        shown = subprocess.run(["git", "show", f"{revision}:{PACKAGE}/{name}"], capture_output=True, text=True)
        return shown.stdout if shown.returncode == 0 else None

    text = source("letters.py")
    tagged = source("tagged_pdf.py")
    if tagged is not None:
        adapter = types.ModuleType("bench_revision_tagged_pdf")
        exec(compile(tagged, f"{revision}:tagged_pdf.py", "exec"), adapter.__dict__)
        sys.modules[adapter.__name__] = adapter
        text = text.replace("from worklink_adjustments.tagged_pdf import", f"from {adapter.__name__} import")
    module = types.ModuleType("bench_revision_letters")
    module.__dict__["__file__"] = letters.__file__  # this tree's fonts
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(text, f"{revision}:letters.py", "exec"), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--against", metavar="REVISION", help="also time this git revision's letters.py")
    args = parser.parse_args()
    versions = {"this tree": letters}
    if args.against:
        versions = {args.against: load_revision(args.against), **versions}
    docs = {label: documents(module) for label, module in versions.items()}
    for label, module in versions.items():  # warm up: imports, each font's character map
        for letter in docs[label].values():
            module.render_pdf(letter)
    print(f"{'PDF':18}" + "".join(f"{label:>14}" for label in versions) + ("   ratio" if args.against else ""))
    for name in docs["this tree"]:
        times = {label: [] for label in versions}
        for _ in range(args.rounds):
            for label, module in versions.items():
                started = time.process_time()
                module.render_pdf(docs[label][name])
                times[label].append((time.process_time() - started) * 1000)
        medians = [statistics.median(t) for t in times.values()]
        ratio = f"{medians[-1] / medians[0]:8.2f}" if args.against else ""
        print(f"{name:18}" + "".join(f"{m:11.1f} ms" for m in medians) + ratio)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
