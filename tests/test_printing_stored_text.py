"""Stored text, however long or strange, prints: on the terminal without steering it (issue 10
point 9), in the batch record PDF without breaking it (point 5), also for values stored before
the text rule existed (written here behind the program's back)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from cellbatch.documents.batch_record import render
from cellbatch.services.queries.documents import record_data
from tests.test_batch_record import pdf_pages, squeeze

STEERING = "seen\x1b]0;pwned\x07 \x1bc \x9b2J \r\x08 \u202etxt.exe \u200b end"
"""A window retitled, the terminal reset, the screen cleared by a one-byte CSI, a line
overwritten, text reversed, an invisible character: each must be shown, none obeyed."""


def plant(db, sql: str, **values) -> None:
    """Write behind the program's back, as a value stored before the rules would be."""
    with db.engine.begin() as connection:
        connection.execute(text(sql), values)


def test_audit_show_and_json_show_control_characters_instead_of_obeying_them(demo_db, cli):
    plant(demo_db, "UPDATE audit_entry SET reason = :r WHERE seq = 2", r=STEERING)
    args = ["--db", demo_db.url, "audit", "show", "--limit", "3"]
    for extra in ([], ["--json"]):
        r = cli(*args, *extra, "--user", "qa1", "--password-stdin", input="demo-qa1-pass\n")
        assert r.code == 0, r.err
        raw = [ch for ch in r.out if ch in "\x1b\x07\x9b\r\x08\u202e\u200b"]
        assert raw == [], r.out
        if extra:
            reasons = [e["reason"] for e in json.loads(r.out)]
            assert STEERING in reasons  # the data itself is unchanged for a JSON reader
        else:
            assert "seen<U+001B>]0;pwned<U+0007>" in r.out
            assert "<U+202E>txt.exe" in r.out


@pytest.mark.requirement("GMP-07")
def test_a_record_with_huge_or_strange_stored_values_prints_them_all(demo_db) -> None:
    postgres = demo_db.engine.dialect.name == "postgresql"
    huge = "M" * (2000 if postgres else 10_000)  # PostgreSQL's columns never held more
    spaced = " ".join(["HIV-1/2"] * 1400)
    plant(demo_db, "UPDATE donor_test SET marker = :m WHERE marker = 'HBsAg'", m=huge)
    plant(demo_db, "UPDATE donor_test SET marker = :m WHERE marker = 'HIV-1 NAT'", m=STEERING)
    plant(demo_db, "UPDATE qc_result SET method = :m", m=huge)
    mine = "batch_id = (SELECT id FROM batch WHERE code = 'EASC-D001')"
    plant(demo_db, f"UPDATE audit_entry SET reason = :r WHERE {mine} AND seq % 5 = 0", r=spaced)
    plant(demo_db, f"UPDATE audit_entry SET reason = :r WHERE {mine} AND seq % 5 = 1", r="V" * 9000)
    data = record_data(demo_db, "EASC-D001")
    pages = pdf_pages(render(data))  # a LayoutError before
    printed = squeeze("".join(pages))
    assert squeeze(huge[:400]) in printed
    assert "Appendix: values too long for a table cell, in full" in "".join(pages) or postgres
    assert printed.count("M" * 400) >= 2 or postgres  # clipped in its cell, in full in a note
    assert squeeze("seen<U+001B>]0;pwned<U+0007>") in printed
    planted = sum("V" * 9000 == a.reason for a in data.audit_trail)
    assert planted and printed.count("V") >= planted * 9000  # in full, in the notes


def test_a_table_row_taller_than_a_page_breaks_across_pages() -> None:
    import io

    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    from cellbatch.documents.long_values import (
        breakable_table,
        build_with_rows_breaking_if_needed,
    )

    def build(split_rows: bool) -> bytes:
        out = io.BytesIO()
        cell = Paragraph("word " * 6000, ParagraphStyle("cell", fontSize=8, leading=10))
        table = breakable_table([["row 1", cell]], [60, 400], split_rows=split_rows)
        SimpleDocTemplate(out).build([table])
        return out.getvalue()

    pages = pdf_pages(build_with_rows_breaking_if_needed(build))  # build(False) cannot lay it out
    assert len(pages) > 3
    assert sum(page.count("word") for page in pages) == 6000
