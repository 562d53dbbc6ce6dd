"""The Latin subsets of DejaVu Sans that most letters embed (fonts/DejaVuSans-Latin*.ttf).

DejaVu Sans has about 6,000 glyphs; reading it and cutting the glyphs a letter uses out of it is most of
the time a PDF takes to draw. A letter whose words are all in Latin script (the great majority) embeds
these subsets instead - the same glyphs, metrics and kerning for those characters - and any other letter
the whole font. Made from the bundled fonts, never by hand:

    .venv/bin/python -m worklink_adjustments.font_subsets      # rewrites fonts/DejaVuSans-Latin*.ttf
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset

FONTS = Path(__file__).parent / "fonts"
FACES = {"DejaVuSans": "DejaVuSans-Latin", "DejaVuSans-Bold": "DejaVuSans-Latin-Bold"}
# Basic Latin, Latin-1 and Latin Extended-A (most European names), dashes, quotes, bullets and ellipsis, per
# mille and guillemets, the euro and the trade mark sign: small enough to read fast (about 400 glyphs of 6,000).
LATIN_RANGES = ((0x20, 0x17F), (0x2010, 0x2027), (0x2030, 0x203A), (0x20AC, 0x20AC), (0x2122, 0x2122))
LATIN = frozenset(c for low, high in LATIN_RANGES for c in range(low, high + 1))


def make(source: Path, target: Path) -> None:
    options = subset.Options()
    options.layout_features = ["*"]  # kerning and every other feature the kept glyphs take part in
    options.name_IDs = ["*"]  # the font's names and its licence, as in the whole font
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.legacy_kern = True
    options.hinting = False  # PDF viewers scale outlines; TrueType hinting is half the file
    font = subset.load_font(str(source), options)
    font.recalcTimestamp = False  # the same bytes from the same font: no churn in git
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=LATIN)
    subsetter.subset(font)
    subset.save_font(font, str(target), options)


def main() -> None:
    for face, latin in FACES.items():
        make(FONTS / f"{face}.ttf", FONTS / f"{latin}.ttf")
        print(f"wrote {FONTS / latin}.ttf")


if __name__ == "__main__":
    main()
