"""The audit tab reads as words: no JSON, no Python lists, no internal row or user numbers."""

from __future__ import annotations

import re

from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.batches import batch_id_of
from cellbatch.tui.widgets.audit_text import audit_lines


def test_every_audit_entry_of_the_demo_batches_reads_as_words(demo_db):
    seen = 0
    for code in ("EASC-B001", "EASC-D001", "FUC-D001", "BMMSC-B001"):
        batch_id = batch_id_of(demo_db, code)
        for entry in list_entries(demo_db, batch_id=batch_id, offset=0, limit=1000):
            text = "\n".join(audit_lines(entry))
            assert not re.search(r'[{}\[\]"]', text), text  # no JSON, no Python list
            assert "_id" not in text and "recorded_by" not in text, text
            assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", text), text  # no microseconds
            seen += 1
    assert seen > 50
    thaw = next(
        e
        for e in list_entries(demo_db, batch_id=batch_id_of(demo_db, "FUC-D001"), limit=1000)
        if e.entity == "step_entry" and '"thaw"' in (e.new_value or "")
    )
    lines = audit_lines(thaw)
    assert lines[0].startswith("created step entry E") and lines[0].endswith("(thaw)")
    assert "vial numbers: 1, 2, 3" in lines[1] and "viability: 86" in lines[1]


def test_the_batch_screens_audit_tab_reads_as_the_record_values_with_their_units(demo_db):
    """The audit tab says what the batch record says: a thaw's viability with its unit."""
    from cellbatch.services.queries.screens import batch_screen
    from cellbatch.tui.screens.batch import audit_change

    data = batch_screen(demo_db, "FUC-D001", audit_offset=0, audit_page=1000)
    texts = [audit_change(e) for e in data.audit_readable]
    assert len(texts) == len(data.audit) > 5
    thaw = next(t for t in texts if "kind: thaw" in t)
    assert "viability: 86 %" in thaw and "total cells: 70 ×10⁶ cells" in thaw, thaw
    for text in texts:
        assert not re.search(r'[{}\[\]"]', text), text  # no JSON, no Python list
        assert "_id" not in text and "recorded_by" not in text, text
