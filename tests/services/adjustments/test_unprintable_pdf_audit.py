"""A letter or summary PDF that cannot be made (422: characters no bundled font has, or text fpdf2 cannot lay out)
is audited as the refused read it was - `read`, purpose print_<kind>_refused_<why> as a withdrawn suggestion's
documents are (2bdac90) -, not as an `export` of the person's record: the entry was written before the PDF was
drawn, so the trail said the document had been given out. The access is still audited, in the transaction that read
the record. The print view of the same suggestion, and a PDF that is made, are exports as ever. On SQLite and
PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tests.services.adjustments.conftest import patient_reference, suggestion_body
from tests.services.adjustments.test_letters_and_employer import issued
from tests.services.adjustments.test_withdrawn_and_replaced_artefacts import PROGRAM, accesses
from worklink_adjustments import letters

pytestmark = pytest.mark.timeout(180)


def test_a_pdf_that_cannot_be_made_is_audited_as_a_refused_read_not_an_export(svc):
    app, client, tokens = svc
    mongolian = issued(client, tokens, **{"patient.given_name": "ᠪᠠᠲᠤ", "patient.family_name": "Smith"})
    emoji = client.post("/suggestions", json=suggestion_body(functional_effects="يتعب بسرعة " + "😀" * 1500),
                        headers=tokens.header()).get_json()["id"]
    assert client.post(f"/suggestions/{emoji}/issue", json={"version": 1}, headers=tokens.header()).status_code == 200
    for sid, kinds, why in ((mongolian["id"], ("letter", "summary"), "unprintable_characters"),
                            (emoji, ("letter",), "unprintable_text")):
        before = len(accesses(app, sid))
        for kind in kinds:
            refused = client.get(f"/suggestions/{sid}/{kind}.pdf", headers={**tokens.header(), **PROGRAM})
            assert refused.status_code == 422, refused.get_data(as_text=True)
            assert refused.get_json()["type"].endswith("/" + why.replace("_", "-"))
        assert client.get(f"/suggestions/{sid}/letter", headers=tokens.header()).status_code == 200  # print view
        assert accesses(app, sid)[before:] == [
            *(("read", f"print_{kind}_refused_{why}", patient_reference(app)) for kind in kinds),
            ("export", "print_letter", patient_reference(app))]
    made = issued(client, tokens)
    assert client.get(f"/suggestions/{made['id']}/letter.pdf", headers=tokens.header()).status_code == 200
    assert accesses(app, made["id"])[-1] == ("export", "print_letter", patient_reference(app))


def test_a_pdf_is_drawn_before_the_audit_entrys_transaction_so_no_writer_waits_for_it(svc, monkeypatch):
    """Drawing takes up to half a second. Inside the write transaction that records the export it would hold
    SQLite's writer queue that long, and every other request that writes would wait for it."""
    app, client, tokens = svc
    made = issued(client, tokens)
    database, real, waited = app.extensions["worklink"].database, letters.render_pdf, []

    def drawing(letter):
        def another_request_writing():
            with database.transaction() as session:
                session.execute(sa.text("SELECT 1"))
        other = threading.Thread(target=another_request_writing)
        other.start()
        other.join(10)
        waited.append(other.is_alive())
        return real(letter)

    monkeypatch.setattr(letters, "render_pdf", drawing)
    assert client.get(f"/suggestions/{made['id']}/letter.pdf", headers=tokens.header()).status_code == 200
    assert waited == [False]
    assert accesses(app, made["id"])[-1] == ("export", "print_letter", patient_reference(app))
