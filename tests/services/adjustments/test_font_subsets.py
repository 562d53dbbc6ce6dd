"""A letter all in Latin script embeds the Latin subset of DejaVu Sans (worklink_adjustments/font_subsets.py):
the committed subset files hold every Latin character of the bundled fonts with the same outlines and widths,
so a letter lays out and prints exactly as with the whole font; anything else embeds the whole font. (That the PDFs still
pass veraPDF's PDF/UA-1 profile is checked in test_tagged_pdf.py, on a Latin-1 letter among others.)"""

from __future__ import annotations

import pytest
from fontTools.ttLib import TTFont

from worklink_adjustments import font_subsets, letters


@pytest.mark.parametrize("face, latin", font_subsets.FACES.items())
def test_the_subset_has_every_latin_character_the_whole_font_has_at_the_same_width(face, latin):
    whole, subset = TTFont(font_subsets.FONTS / f"{face}.ttf"), TTFont(font_subsets.FONTS / f"{latin}.ttf")
    whole_map, subset_map = whole.getBestCmap(), subset.getBestCmap()
    assert set(subset_map) == set(whole_map) & font_subsets.LATIN
    assert {ord(c) for c in "AZaz09£€–—‘’“”…•ÀÿŁłŒœ"} <= set(subset_map)
    widths = [(chr(c), whole["hmtx"][whole_map[c]][0], subset["hmtx"][subset_map[c]][0]) for c in subset_map]
    assert [w for w in widths if w[1] != w[2]] == []
    whole_glyphs, subset_glyphs = whole["glyf"], subset["glyf"]
    assert [chr(c) for c in subset_map if subset_glyphs[subset_map[c]].getCoordinates(subset_glyphs)[0]
            != whole_glyphs[whole_map[c]].getCoordinates(whole_glyphs)[0]] == []  # the same outlines
    assert subset["OS/2"].fsType == whole["OS/2"].fsType  # the same embedding permission


def embedded(given: str, family: str) -> set[str]:
    letter = letters.Letter("patient", f"Your advice about work, {given} {family}", False,
                            [letters.Section("About you", [f"{given} {family}, born 12 April 1985"])], "Dr A")
    pdf = letters.LetterPDF(format="A4")
    letters._add_fonts(pdf, letter)
    return {font.ttffile.name for font in pdf.fonts.values()}


def test_a_letter_all_in_latin_script_embeds_the_subset_and_any_other_the_whole_font():
    assert embedded("Sam", "Patel") == {"DejaVuSans-Latin.ttf", "DejaVuSans-Latin-Bold.ttf"}
    assert embedded("Łukasz", "Żółć") == {"DejaVuSans-Latin.ttf", "DejaVuSans-Latin-Bold.ttf"}
    assert embedded("Thi", "Nguyễn") == {"DejaVuSans.ttf", "DejaVuSans-Bold.ttf"}  # ễ: Latin Extended Additional
    assert embedded("Sam", "Ελένη") == {"DejaVuSans.ttf", "DejaVuSans-Bold.ttf"}
    assert embedded("राहुल", "पटेल") == {"DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "NotoSansDevanagari-Regular.ttf"}
