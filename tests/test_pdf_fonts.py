"""Every PDF cellbatch makes embeds every font it declares (issue 13: an archival record)."""

from __future__ import annotations

import re

import pypdfium2
import pypdfium2.raw as raw
import pytest

_OBJECT = re.compile(rb"(\d+) 0 obj\b(.*?)\bendobj", re.S)
_DESCRIPTOR = re.compile(rb"/FontDescriptor (\d+) 0 R")
_DESCENDANTS = re.compile(rb"/DescendantFonts \[ ?(\d+) 0 R")
_BASE = re.compile(rb"/BaseFont /([^\s/]+)")


def declared_fonts(pdf: bytes) -> dict[str, bool]:
    """Every font dictionary of the file, by its base font name: embedded or not.

    A font is embedded when its descriptor carries the font program (FontFile, FontFile2 or
    FontFile3), directly or through its descendant font (Type 0).
    """
    assert b"/ObjStm" not in pdf, "object streams would hide font dictionaries from this scan"
    objects = {int(m[1]): m[2] for m in _OBJECT.finditer(pdf)}

    def embedded(body: bytes) -> bool:
        descendant = _DESCENDANTS.search(body)
        if descendant:
            return embedded(objects[int(descendant[1])])
        descriptor = _DESCRIPTOR.search(body)
        if descriptor is None:
            return False
        return re.search(rb"/FontFile[23]? \d+ 0 R", objects[int(descriptor[1])]) is not None

    fonts = {}
    for body in objects.values():
        if re.search(rb"/Type /Font\b", body):
            fonts[_BASE.search(body)[1].decode()] = embedded(body)
    return fonts


def fonts_used_on_pages(pdf: bytes) -> dict[str, bool]:
    """The fonts of the text drawn on each page, as pdfium reads them: embedded or not."""
    doc = pypdfium2.PdfDocument(pdf)
    out = {}
    try:
        for page in doc:
            for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_TEXT]):
                font = raw.FPDFTextObj_GetFont(obj.raw)
                size = raw.FPDFFont_GetBaseFontName(font, None, 0)
                buffer = (raw.c_char * size)()
                raw.FPDFFont_GetBaseFontName(font, buffer, size)
                name = bytes(buffer).rstrip(b"\0").decode()
                out[name] = bool(raw.FPDFFont_GetIsEmbedded(font))
    finally:
        doc.close()
    return out


def _write(cli, db, tmp_path, command: str, batch: str) -> bytes:
    out = tmp_path / f"{command}-{batch}.pdf"
    result = cli(
        "--db", db.url, command, batch, "-o", str(out), "--user", "tech1", "--password-stdin",
        input="demo-tech1-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    return out.read_bytes()


@pytest.mark.requirement("GMP-02")
@pytest.mark.parametrize(
    ("command", "batch"),
    [
        ("labels", "EASC-D001"),  # bag labels (100 × 100 mm)
        ("labels", "EASC-B001"),  # cryovial and QC sample tube labels
        ("record", "EASC-B001"),  # the batch record of a bank
        ("record", "FUC-D001"),  # and of a dose batch
    ],
)
def test_every_pdf_embeds_every_font_it_declares(demo_db, cli, tmp_path, command, batch) -> None:
    pdf = _write(cli, demo_db, tmp_path, command, batch)
    declared = declared_fonts(pdf)
    assert declared, "no font dictionary found: the scan did not read the file"
    assert {name for name, ok in declared.items() if not ok} == set()
    assert not any("Helvetica" in name for name in declared)
    used = fonts_used_on_pages(pdf)
    assert used and all(used.values()), used
    assert {name.split("+")[-1] for name in used} <= {n.split("+")[-1] for n in declared}
