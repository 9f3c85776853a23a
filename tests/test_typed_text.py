"""Free text that goes into a record must be readable: no invisible reasons, no control codes."""

from __future__ import annotations

import pytest

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.text import typed_text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", "got nothing that can be read"),
        ("\u200b", "got nothing that can be read"),  # zero-width space
        ("\u00a0\u2003", "got nothing that can be read"),  # no-break and em spaces
        ("recount\x07", r"control character U\+0007"),  # the terminal's bell
        ("ok\x1b[2J", r"control character U\+001B"),  # an escape sequence
        ("x" * 2001, "at most 2000 characters, got 2001"),
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


@pytest.mark.requirement("GMP-06")
def test_a_correction_with_an_invisible_reason_changes_nothing(demo_db):
    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands.corrections import correct
    from cellbatch.services.queries.batch_view import batch_view
    from tests.lab import snapshot

    tech2 = authenticate(demo_db, "tech2", "demo-tech2")
    fill = batch_view(demo_db, "EASC-D001")["fill"]["entry"]
    before = snapshot(demo_db)
    with pytest.raises(InvalidInput, match="--reason: expected why the value is corrected"):
        correct(demo_db, tech2, "EASC-D001", fill, field="volume", value="30 mL", reason="\u200b")
    assert snapshot(demo_db) == before
