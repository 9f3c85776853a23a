"""Free text that goes into a record must be readable: no invisible reasons, no control codes."""

from __future__ import annotations

import pytest

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.text import CODE, LOCATION, SUPPLIER_LOT, typed_text, visible


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", "got nothing that can be read"),
        ("\u200b", "got nothing that can be read"),  # zero-width space
        ("\u00a0\u2003", "got nothing that can be read"),  # no-break and em spaces
        ("recount\x07", r"control character U\+0007"),  # the terminal's bell
        ("ok\x1b[2J", r"control character U\+001B"),  # an escape sequence
        ("x" * 2001, "at most 2000 characters, got 2001"),
        ("ok\u202egnp.exe", r"text-direction control U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"),
        ("a\u2066b", r"text-direction control U\+2066"),
        ("look\u200balike", r"invisible formatting character U\+200B \(ZERO WIDTH SPACE\)"),
        ("a\ufeffb", r"invisible formatting character U\+FEFF"),
        ("over\rwrite", r"control character U\+000D"),
        ("c1 csi \x9b2J", r"control character U\+009B"),
        ("line\u2028sep", r"line separator U\+2028"),
        ("private \ue000", r"private-use character U\+E000"),
        ("bad byte \udcff", "bytes that are not valid UTF-8 text"),
        ("z" + "\u0301" * 6, "more than 4 marks stacked on it"),
        ("\u0301\u0302", "got nothing that can be read"),
    ],
)
def test_unreadable_or_oversized_text_is_refused_naming_the_field(text, message):
    with pytest.raises(InvalidInput, match=message) as info:
        typed_text(text, "--reason", what="the reason")
    assert info.value.field == "--reason"


def test_readable_text_is_kept_trimmed_with_its_accents_and_line_breaks():
    assert typed_text("  Zählung wiederholt\nline two ", "--reason", what="r") == (
        "Zählung wiederholt\nline two"
    )


def test_text_is_kept_in_one_normal_form_so_equal_text_is_stored_equal():
    decomposed = "Za\u0308hlung"  # a + combining diaeresis
    assert typed_text(decomposed, "--reason", what="r") == "Zählung"


def test_one_line_text_refuses_line_breaks_and_tabs():
    with pytest.raises(InvalidInput, match="--method: expected the method on one line, got a line"):
        typed_text("flow\ncytometry", "--method", what="the method", one_line=True)
    with pytest.raises(InvalidInput, match="on one line, got a tab"):
        typed_text("flow\tcytometry", "--method", what="the method", one_line=True)


def test_text_in_other_scripts_and_symbols_is_kept():
    text = "Ζύμωση 37 °C ± 2 · 细胞计数 · µg/mL · naïve — ok ✓"
    assert typed_text(text, "--reason", what="r") == text


@pytest.mark.parametrize(
    ("rule", "typed", "kept"),
    [
        (CODE, " fuc-d001 ", "FUC-D001"),
        (SUPPLIER_LOT, "RNBK  2291/A\r\n", "RNBK 2291/A"),
        (LOCATION, "LN2 tank 2 / rack 3 / box 12", "LN2 tank 2 / rack 3 / box 12"),
    ],
)
def test_identifiers_are_kept_trimmed_with_single_spaces(rule, typed, kept):
    assert rule.check(typed, "LOT") == kept


@pytest.mark.parametrize(
    ("rule", "typed", "message"),
    [
        (SUPPLIER_LOT, "MED\u200b-1", r"got U\+200B \(ZERO WIDTH SPACE\)"),
        (SUPPLIER_LOT, "MED-\u0406", r"got U\+0406 \(CYRILLIC CAPITAL LETTER"),
        (SUPPLIER_LOT, "MED\u00a01", r"got U\+00A0 \(NO-BREAK SPACE\)"),
        (SUPPLIER_LOT, "M" * 61, "at most|got 61 characters"),
        (SUPPLIER_LOT, "", "got nothing"),
        (SUPPLIER_LOT, "-leading", "got '-leading'"),
        (CODE, "stra\u00dfe", r"got U\+00DF"),  # "ß".upper() would be "SS"
        (CODE, "A\udcff", "not valid UTF-8"),
        (LOCATION, "tank\x1b[2J", r"got U\+001B"),
        (LOCATION, "x" * 61, "got 61 characters"),
    ],
)
def test_identifiers_outside_their_pattern_are_refused_naming_the_field(rule, typed, message):
    with pytest.raises(InvalidInput, match=message) as info:
        rule.check(typed, "LOT")
    assert info.value.field == "LOT"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("plain text", "plain text"),
        ("hidden\x1b[8mline\x1b[0m", "hidden<U+001B>[8mline<U+001B>[0m"),
        ("c1\x9b2J", "c1<U+009B>2J"),
        ("over\rwrite\x08", "over<U+000D>write<U+0008>"),
        ("abc\u202edcba", "abc<U+202E>dcba"),
        ("look\u200balike", "look<U+200B>alike"),
        ("bad\udcff", "bad<U+DCFF>"),
        ("two\nlines\tok", "two\nlines\tok"),
        ("Zählung ✓", "Zählung ✓"),
    ],
)
def test_stored_text_is_shown_with_nothing_that_steers_a_terminal(stored, shown):
    assert visible(stored) == shown
    assert visible(shown) == shown
    assert visible("a\nb", keep_lines=False) == "a<U+000A>b"


@pytest.mark.requirement("GMP-06")
def test_a_correction_with_an_invisible_reason_changes_nothing(demo_db):
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.corrections import correct
    from cellbatch.services.queries.batch_view import batch_view
    from tests.lab import snapshot

    tech2 = authenticate(demo_db, "tech2", "demo-tech2-pass")
    fill = batch_view(demo_db, "EASC-D001").to_dict()["fill"]["entry"]
    before = snapshot(demo_db)
    with pytest.raises(InvalidInput, match="--reason: expected why the value is corrected"):
        correct(demo_db, tech2, "EASC-D001", fill, field="volume", value="30 mL", reason="\u200b")
    assert snapshot(demo_db) == before
