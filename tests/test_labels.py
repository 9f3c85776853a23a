"""ISBT 128 bag labels: printed pages decode exactly, print/reprint counting, scan verification."""

from __future__ import annotations

from datetime import UTC, datetime

import pypdfium2
import pytest
import zxingcpp

from cellbatch import isbt128
from cellbatch.documents.labels import load_template
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.labels import print_labels, verify_scans
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.labels import label_history
from cellbatch.site import load_site_settings
from tests.lab import next_demo_dose

GMP08 = pytest.mark.requirement("GMP-08")
GMP10 = pytest.mark.requirement("GMP-10")
GMP24 = pytest.mark.requirement("GMP-24")


def user(db, name: str):
    return authenticate(db, name, f"demo-{name}-pass")


def pages_of(pdf: bytes) -> list[tuple[str, list]]:
    """Each page's text and its barcodes, read from a 300 dpi rendering."""
    doc = pypdfium2.PdfDocument(pdf)
    out = []
    try:
        for page in doc:
            size = page.get_size()
            assert size == pytest.approx((283.46, 283.46), abs=0.1)  # 100 x 100 mm
            text = page.get_textpage().get_text_range()
            image = page.render(scale=300 / 72).to_pil()
            out.append((text, zxingcpp.read_barcodes(image)))
    finally:
        doc.close()
    return out


QUARANTINE_FIRST = "20"
"""Flags of a bag's first quarantine label: the facility's own (type 2), one more per reprint."""


def intended(db, code: str, flags: str | None = None) -> dict[str, str]:
    """The ISBT 128 data the bag of ``code`` must carry, computed from its record.

    Flags: as given, else those of the first label of its kind: the check flags (60 + check
    value) on a released batch's final label, 20 on a quarantine label.
    """
    view = batch_view(db, code).to_dict()
    bag = view["bag"]
    din = isbt128.Din.from_code(bag["din"])
    flags = flags or (din.type3_flags() if view["status"] == "released" else QUARANTINE_FIRST)
    product = isbt128.parse_product_code("=<" + bag["product_code"])
    expires = datetime.fromisoformat(bag["expires_at"].replace("Z", "+00:00"))
    local = load_site_settings().local_time(expires)
    return {
        "Code 128": sorted(
            [
                din.data_structure(flags),
                product.data_structure(),
                isbt128.expiry_data_structure(local),
            ]
        ),
        "Data Matrix": [isbt128.datamatrix_content(din, flags, product, local, coi_of(db, code))],
    }


def coi_of(db, code: str) -> str | None:
    """The chain-of-identity identifier of the therapy the dose ``code`` is made for, if any:
    a bag label (content version 2) carries it in its Data Matrix."""
    from cellbatch.domain.errors import NotFound
    from cellbatch.services.queries.plans import plan_view

    recipient = batch_view(db, code).to_dict().get("recipient")
    try:
        return plan_view(db, recipient).coi if recipient else None
    except NotFound:
        return None


def decoded(barcodes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for barcode in barcodes:
        out.setdefault(
            str(barcode.format)
            .split(".")[-1]
            .replace("Code128", "Code 128")
            .replace("DataMatrix", "Data Matrix"),
            [],
        ).append(barcode.text)
    return {k: sorted(v) for k, v in out.items()}


def keep(into: list, document: bytes) -> bytes:
    """Keep the rendered document, and hand it back as the service expects."""
    into.append(document)
    return document


def capture(into: list):
    """A render callback that keeps the label contents and draws nothing."""
    return lambda labels: into.extend(labels) or b""


def print_pdf(db, code: str, who: str = "tech1", **kwargs) -> bytes:
    from cellbatch.documents.labels import render

    out: list[bytes] = []
    print_labels(db, user(db, who), code, lambda labels: keep(out, render(labels)), **kwargs)
    return out[0]


def release_demo_dose(db, code: str = "EASC-D001") -> None:
    """Second-person verification of every entry, then release by an uninvolved QA officer."""
    from cellbatch.services.commands import release
    from cellbatch.services.commands.verification import verify
    from cellbatch.services.queries.verification import verification_status

    tech2 = user(db, "tech2")
    for state in verification_status(db, code):
        if state.status in ("pending", "invalid"):
            who = "tech2" if state.recorded_by != tech2.id else "tech1"
            verify(db, who, f"demo-{who}-pass", code, state.ref)
    release.decide(db, "qa1", code, "release", "labels test", password="demo-qa1-pass")


@GMP24
@GMP08
def test_quarantine_label_decodes_exactly_and_says_not_released(demo_db, cli, tmp_path) -> None:
    out = tmp_path / "labels.pdf"
    result = cli(
        "--db",
        demo_db.url,
        "labels",
        "EASC-D001",
        "-o",
        str(out),
        "--user",
        "tech1",
        "--password-stdin",
        input="demo-tech1-pass\n",
    )
    assert result.code == 0, result.err
    assert "QUARANTINE" in result.out
    pages = pages_of(out.read_bytes())
    assert len(pages) == 1
    text, barcodes = pages[0]
    assert decoded(barcodes) == intended(demo_db, "EASC-D001")
    assert "NOT RELEASED – QUARANTINE" in text
    assert "EXAMPLE FIN – NOT FOR CLINICAL USE" in text
    din = isbt128.Din.from_code(batch_view(demo_db, "EASC-D001").to_dict()["bag"]["din"])
    assert din.eye_readable in text and din.check in text
    history = label_history(demo_db, "EASC-D001")
    assert (history.printed, history.quarantine_printed, history.final_printed) == (
        1,
        1,
        0,
    )


@GMP08
def test_second_print_is_refused_and_a_reprint_is_marked(demo_db) -> None:
    from cellbatch.services.queries.audit import count_entries

    print_pdf(demo_db, "EASC-D001")
    before = count_entries(demo_db)
    with pytest.raises(RuleViolation, match="already printed: use --reprint"):
        print_pdf(demo_db, "EASC-D001")
    with pytest.raises(InvalidInput, match="--reason"):
        print_pdf(demo_db, "EASC-D001", reprint=True)
    assert count_entries(demo_db) == before
    pdf = print_pdf(demo_db, "EASC-D001", reprint=True, reason="label smudged at the fill")
    text, barcodes = pages_of(pdf)[0]
    assert decoded(barcodes) == intended(demo_db, "EASC-D001", flags="21")  # the next local flag
    assert "REPRINT (label smudged at the fill)" in text
    history = label_history(demo_db, "EASC-D001")
    assert (history.printed, history.reprinted) == (1, 1)
    assert history.events[-1].reason == "label smudged at the fill"


@GMP24
def test_a_reprint_with_a_long_reason_prints_and_keeps_the_reason_whole(demo_db) -> None:
    """A reason of a few sentences (what a technician writes) does not stop the reprint."""
    reason = (
        "Label smudged by condensation after removal from the transport box; the DIN and the "
        "expiry were unreadable at the ward check, bag returned for relabelling under QA"
    )
    print_pdf(demo_db, "EASC-D001")
    pdf = print_pdf(demo_db, "EASC-D001", reprint=True, reason=reason)
    text, barcodes = pages_of(pdf)[0]
    assert decoded(barcodes) == intended(demo_db, "EASC-D001", flags="21")
    assert "REPRINT (Label smudged by" in text and "reason in full: batch record" in text
    assert label_history(demo_db, "EASC-D001").events[-1].reason == reason


@GMP08
def test_a_failed_render_counts_nothing(demo_db) -> None:
    from cellbatch.services.queries.audit import count_entries

    before = count_entries(demo_db)

    def broken(_labels):
        raise RuleViolation("printer out of labels")

    with pytest.raises(RuleViolation, match="printer out of labels"):
        print_labels(demo_db, user(demo_db, "tech1"), "EASC-D001", broken)
    assert count_entries(demo_db) == before
    assert label_history(demo_db, "EASC-D001").printed == 0


def test_labels_refused_for_a_bank_an_unfilled_dose_and_an_admin(demo_db) -> None:
    from cellbatch.domain.errors import PermissionDenied

    with pytest.raises(RuleViolation, match="bank: bag labels belong to dose batches"):
        print_pdf(demo_db, "EASC-B001")
    with pytest.raises(RuleViolation, match="no bag yet"):
        print_pdf(demo_db, "FUC-D001")
    with pytest.raises(PermissionDenied):
        print_pdf(demo_db, "EASC-D001", who="admin")


@GMP24
@GMP08
def test_final_label_only_after_release_and_decodes_exactly(demo_db) -> None:
    quarantine = pages_of(print_pdf(demo_db, "EASC-D001"))[0][0]
    assert "NOT RELEASED – QUARANTINE" in quarantine
    release_demo_dose(demo_db)
    text, barcodes = pages_of(print_pdf(demo_db, "EASC-D001"))[0]
    assert decoded(barcodes) == intended(demo_db, "EASC-D001")
    assert "QUARANTINE" not in text
    assert "BIOHAZARD" not in text and "Reactive test results" not in text  # eligible donor
    assert "FOR RECIPIENT RA-P001 ONLY" in text and "FINAL LABEL" in text
    for statement in load_site_settings().statements:
        assert statement in text.replace("\r\n", " ").replace("\n", " ")
    history = label_history(demo_db, "EASC-D001")
    assert (history.quarantine_printed, history.final_printed) == (1, 1)


@GMP24
def test_related_donor_label_is_biohazard_and_decodes_exactly(db) -> None:
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.commands import steps
    from cellbatch.services.demo import load_demo

    load_demo(
        db, render_labels=render_labels
    )  # fresh: the fucosylated dose must be filled within 1 h of fucosylation
    steps.fill(
        db,
        user(db, "tech1"),
        "FUC-D001",
        volume="10 mL",
        cells="4.0e7 cells",
        materials=["SAL-HSA-0915"],
    )
    bag = batch_view(db, "FUC-D001").to_dict()["bag"]
    assert bag["product_code"][5] == "3"  # directed recipient use only, biohazard
    text, barcodes = pages_of(print_pdf(db, "FUC-D001"))[0]
    assert decoded(barcodes) == intended(db, "FUC-D001")
    flat = " ".join(text.split())
    site = load_site_settings()
    assert site.biohazard_legend in flat
    assert " ".join(site.communicable_disease_warning.split()) in flat
    # 21 CFR 1271.65(b): the donor's reactive marker is named on the label
    assert "WARNING: Reactive test results for anti-HBc." in flat
    assert "Recipient ID: EB-P001" in flat


@GMP10
def test_scans_of_the_printed_label_verify_it(demo_db, cli) -> None:
    print_pdf(demo_db, "EASC-D001")
    want = intended(demo_db, "EASC-D001")
    scans = [f"]C0{text}\r\n" for text in want["Code 128"]]
    result = cli(
        "--db",
        demo_db.url,
        "label",
        "scan",
        "EASC-D001",
        "--bag",
        "1",
        *(arg for s in scans for arg in ("--scan", s)),
        "--user",
        "tech2",
        "--password-stdin",
        input="demo-tech2-pass\n",
    )
    assert result.code == 0, result.err
    assert "verified" in result.out
    assert "the product is NOT released (batch status: in-process)" in result.out
    report = verify_scans(demo_db, user(demo_db, "tech1"), "EASC-D001", 1, want["Data Matrix"])
    assert report.ok and not report.missing
    assert label_history(demo_db, "EASC-D001").verified == 2


@GMP10
def test_a_wrong_or_partial_scan_says_exactly_what_differs(demo_db, cli) -> None:
    want = intended(demo_db, "EASC-D001")
    din_scan = next(s for s in want["Code 128"] if not s.startswith(("=<", "&>")))
    other = isbt128.Din.from_code(din_scan[1:14][:7] + "999999")
    wrong = other.data_structure("00")
    result = cli(
        "--db",
        demo_db.url,
        "label",
        "scan",
        "EASC-D001",
        "--bag",
        "1",
        "--scan",
        wrong,
        "--scan",
        "=<S9901VB0",
        "--user",
        "tech1",
        "--password-stdin",
        input="demo-tech1-pass\n",
    )
    assert result.code == 4
    assert f"DIN is {other.eye_readable}" in result.err
    assert "product code is S9901VB0" in result.err
    assert "not scanned: expiry" in result.err
    right = int(isbt128.Din.from_code(din_scan[1:14]).type3_flags())
    bad_check = din_scan[:14] + str(right + 1 if right < 96 else right - 1)
    report = verify_scans(demo_db, user(demo_db, "tech1"), "EASC-D001", 1, [bad_check])
    assert not report.ok and "wrong check flags" in report.checks[0].differences[0]
    history = label_history(demo_db, "EASC-D001")
    assert history.verified == 0 and history.failed_scans == 2
    assert "DIN is" in history.events[0].reason


def test_template_boxes_lie_on_the_page_without_overlapping(tmp_path) -> None:
    template = load_template()
    boxes = list(template.boxes.values())
    for i, box in enumerate(boxes):
        assert box.x >= 0 and box.y >= 0
        assert box.x + box.width <= template.width + 0.01
        assert box.top <= template.height + 0.01
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])
    text = tmp_path / "t.toml"
    source = load_template.__globals__["default_template_path"]().read_text()
    assert source.count("y_mm = 65.5") == 1  # the status band
    text.write_text(source.replace("y_mm = 65.5", "y_mm = 64.5"))
    with pytest.raises(InvalidInput, match="overlaps"):
        load_template(text)


def test_template_boxes_keep_the_printer_margin(tmp_path) -> None:
    from reportlab.lib.units import mm

    template = load_template()
    assert template.margin >= 3.5 * mm
    for box in template.boxes.values():
        assert min(box.x, box.y) >= template.margin - 0.01
        assert box.x + box.width <= template.width - template.margin + 0.01
        assert box.top <= template.height - template.margin + 0.01
    source = load_template.__globals__["default_template_path"]().read_text()
    assert source.count("x_mm = 4.0") >= 1
    edge = tmp_path / "edge.toml"
    edge.write_text(source.replace("x_mm = 4.0", "x_mm = 2.5", 1))
    with pytest.raises(InvalidInput, match="page margin of 4 mm"):
        load_template(edge)


def test_expiry_is_local_facility_time(demo_db) -> None:
    bag = batch_view(demo_db, "EASC-D001").to_dict()["bag"]
    expires = datetime.fromisoformat(bag["expires_at"].replace("Z", "+00:00"))
    local = load_site_settings().local_time(expires)
    assert local.tzinfo is None
    assert local == expires.astimezone(__import__("zoneinfo").ZoneInfo("Europe/London")).replace(
        tzinfo=None
    )
    assert load_site_settings().local_time(datetime(2026, 7, 1, 12, tzinfo=UTC)).hour == 13


def test_site_time_zone_is_optional_and_checked(tmp_path) -> None:
    from tests.test_isbt128 import SITE_TOML

    path = tmp_path / "site.toml"
    path.write_text(SITE_TOML, encoding="utf-8")
    assert load_site_settings(path).timezone == "UTC"
    zoned = SITE_TOML.replace("example = true", 'example = true\ntimezone = "America/Chicago"')
    path.write_text(zoned, encoding="utf-8")
    settings = load_site_settings(path)
    assert settings.local_time(datetime(2026, 1, 15, 18, 0, tzinfo=UTC)) == datetime(
        2026, 1, 15, 12, 0
    )
    path.write_text(zoned.replace("America/Chicago", "Mars/Olympus"), encoding="utf-8")
    with pytest.raises(InvalidInput, match="facility.timezone: unknown time zone 'Mars/Olympus'"):
        load_site_settings(path)


@GMP08
def test_an_expired_bag_is_not_labelled(demo_db) -> None:
    from datetime import timedelta

    from cellbatch.services.commands import steps

    now = datetime.now(UTC)
    tech = user(demo_db, "tech1")
    next_demo_dose(demo_db, tech, at=now - timedelta(hours=8))
    steps.thaw(
        demo_db,
        tech,
        "EASC-D002",
        vials=4,
        total_cells="1.9e8 cells",
        viability="88 %",
        materials=["DPBS-88812"],
        at=now - timedelta(hours=7, minutes=50),
    )
    steps.fill(
        demo_db,
        tech,
        "EASC-D002",
        volume="40 mL",
        cells="1.42e8 cells",
        materials=["SAL-HSA-0915"],
        at=now - timedelta(hours=7),
    )
    # the third bag from the donation's DIN: EASC-D001's is VA0, EASC-D000's VB0
    assert batch_view(demo_db, "EASC-D002").to_dict()["bag"]["product_code"] == "S9901VC0"
    with pytest.raises(RuleViolation, match="EASC-D002 bag 1 expired at .* not labelled"):
        print_pdf(demo_db, "EASC-D002")
    assert label_history(demo_db, "EASC-D002").printed == 0


def test_text_that_cannot_fit_is_refused_not_cut_off(demo_db) -> None:
    from dataclasses import replace

    from cellbatch.documents.labels import render

    captured = []
    print_labels(demo_db, user(demo_db, "tech1"), "EASC-D001", capture(captured))
    label = captured[0]
    assert pages_of(render([label]))  # the real content fits
    too_long = replace(label, product_name="Mesenchymal stromal cells " * 30)
    with pytest.raises(RuleViolation, match="does not fit box 'product'"):
        render([too_long])
    with pytest.raises(RuleViolation, match="does not fit box 'statements'"):
        render([replace(label, statements=label.statements * 6)])


@GMP24
def test_printed_symbols_have_isbt_128_dimensions(demo_db, tmp_path) -> None:
    from reportlab.lib.units import mm

    from cellbatch.documents.barcodes import code128_width

    template = load_template()
    spec = template.code128
    doc = pypdfium2.PdfDocument(print_pdf(demo_db, "EASC-D001"))
    px_per_mm = 300 / 25.4
    try:
        barcodes = zxingcpp.read_barcodes(doc[0].render(scale=300 / 72).to_pil())
    finally:
        doc.close()

    def side(a, b) -> float:
        return ((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5 / px_per_mm

    linear = [b for b in barcodes if "128" in str(b.format)]
    assert len(linear) == 3
    for barcode in linear:
        pos = barcode.position
        width, height = side(pos.top_left, pos.top_right), side(pos.top_left, pos.bottom_left)
        assert height >= 5.0 and height == pytest.approx(spec.height_mm, abs=0.15)
        bars = (
            code128_width(barcode.text, spec) / mm
        ) - 2 * spec.quiet_zone_modules * spec.narrow_bar_mm
        assert width == pytest.approx(bars, rel=0.01)  # so the narrow bar printed is 0.25 mm
    [matrix] = [b for b in barcodes if "Matrix" in str(b.format)]
    assert matrix.symbology_identifier == "]d1"  # ECC 200
    # square, not a rectangular DMRE symbol: 26 x 26 with the chain-of-identity identifier
    assert matrix.extra["Version"] == "26x26" and "&/CH" in matrix.text
    pos = matrix.position
    assert side(pos.top_left, pos.top_right) == pytest.approx(26 * template.module_mm, rel=0.03)

    source = load_template.__globals__["default_template_path"]().read_text()
    thin = tmp_path / "thin.toml"
    thin.write_text(source.replace("narrow_bar_mm = 0.25", "narrow_bar_mm = 0.12"))
    with pytest.raises(InvalidInput, match="narrow bar of at least 0.17 mm"):
        load_template(thin)


# ------------------------------------------------------------------ readability and layout

MM = 72 / 25.4


def label_variants(db) -> dict[str, bytes]:
    """The demo's labels as printed: eASC quarantine and final, fucosylated (biohazard)
    quarantine and a final reprint, the fullest label there is."""
    from dataclasses import replace

    from cellbatch.documents.labels import render
    from cellbatch.documents.labels import render as render_labels
    from cellbatch.services.commands import steps
    from cellbatch.services.demo import load_demo

    load_demo(
        db, render_labels=render_labels
    )  # fresh: the fucosylated dose must be filled within 1 h of fucosylation
    tech = user(db, "tech1")
    steps.fill(
        db, tech, "FUC-D001", volume="10 mL", cells="4.0e7 cells", materials=["SAL-HSA-0915"]
    )
    labels = {}
    for code in ("EASC-D001", "FUC-D001"):
        captured: list = []
        print_labels(db, tech, code, capture(captured))
        labels[code] = captured[0]
    easc, fuc = labels["EASC-D001"], labels["FUC-D001"]
    assert fuc.biohazard and fuc.reactive_warning and not easc.biohazard
    variants = {
        "easc-quarantine": easc,
        "easc-final": replace(easc, final=True),
        "fuc-quarantine": fuc,
        "fuc-final-reprint": replace(
            fuc, final=True, reprint=True, flags="05", reason="label smudged at the fill"
        ),
    }
    return {name: render([label]) for name, label in variants.items()}


def chars(pdf: bytes) -> list[tuple[str, float, float, float, float, float, float, float]]:
    """Every visible character of page 1: (char, font size pt, left, bottom, right, top,
    origin x, baseline y), lengths in mm."""
    import ctypes

    import pypdfium2.raw as raw

    doc = pypdfium2.PdfDocument(pdf)
    out = []
    try:
        text = doc[0].get_textpage()
        for i in range(text.count_chars()):
            char = text.get_text_range(i, 1)
            left, bottom, right, top = text.get_charbox(i)
            if not char.strip() or right <= left:
                continue
            size = raw.FPDFText_GetFontSize(text.raw, i)
            x, y = ctypes.c_double(), ctypes.c_double()
            raw.FPDFText_GetCharOrigin(text.raw, i, ctypes.byref(x), ctypes.byref(y))
            box = (left / MM, bottom / MM, right / MM, top / MM, x.value / MM, y.value / MM)
            out.append((char, size, *box))
    finally:
        doc.close()
    return out


def line_of(found: list, needle: str) -> list:
    """The characters of the printed line holding ``needle`` (by baseline and reading order)."""
    text = "".join(c[0] for c in found)
    start = text.index(needle.replace(" ", ""))
    return found[start : start + len(needle.replace(" ", ""))]


def test_every_label_text_is_readable_size(db) -> None:
    """Nothing below 6 pt; only the footer (example notice, print trace) goes down to 5 pt."""
    footer = load_template().boxes["footer"]
    footer_top = footer.top / MM
    for name, pdf in label_variants(db).items():
        small = [
            f"{name}: {c[0]!r} {c[1]:.2f} pt at y {c[3]:.1f} mm"
            for c in chars(pdf)
            if c[1] < (5.0 if c[5] <= footer_top else 6.0) - 0.01
        ]
        assert small == []
        trace = [c for c in chars(pdf) if c[5] <= footer_top]
        assert trace and min(c[1] for c in trace) >= 5.0 - 0.01


def test_nothing_is_printed_within_the_printer_margin(db) -> None:
    """Every character box, and every dark pixel (bars, symbols, rules), is ≥ 3.5 mm in."""
    for name, pdf in label_variants(db).items():
        near = [
            f"{name}: {c[0]!r} at {c[2]:.1f},{c[3]:.1f} mm"
            for c in chars(pdf)
            if min(c[2], c[3], 100 - c[4], 100 - c[5]) < 3.5
        ]
        assert near == []
        doc = pypdfium2.PdfDocument(pdf)
        try:
            image = doc[0].render(scale=300 / 72).to_pil().convert("L")
        finally:
            doc.close()
        left, top, right, bottom = image.point(lambda p: 255 if p < 128 else 0).getbbox()
        px = 300 / 25.4
        assert min(left, top, image.width - right, image.height - bottom) / px >= 3.5, name


def test_linear_barcodes_keep_ten_bar_quiet_zones(db) -> None:
    """Blank for at least 10 narrow bars left and right of each Code 128, inside its box."""
    from reportlab.lib.units import mm

    template = load_template()
    spec = template.code128
    px = 300 / 25.4
    quiet = spec.quiet_zone_modules * spec.narrow_bar_mm * px
    pdf = label_variants(db)["fuc-final-reprint"]
    doc = pypdfium2.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=300 / 72).to_pil().convert("L")
    finally:
        doc.close()
    linear = [b for b in zxingcpp.read_barcodes(image) if "128" in str(b.format)]
    assert len(linear) == 3
    boxes = [template.boxes[n] for n in ("din", "product", "expiry")]
    for barcode in linear:
        pos = barcode.position
        x0, x1 = min(pos.top_left.x, pos.bottom_left.x), max(pos.top_right.x, pos.bottom_right.x)
        y0, y1 = min(pos.top_left.y, pos.top_right.y), max(pos.bottom_left.y, pos.bottom_right.y)
        rows = range(int(y0) + 2, int(y1) - 2)
        for lo, hi in ((x0 - quiet, x0 - 2), (x1 + 2, x1 + quiet)):
            dark = [
                (x, y)
                for y in rows
                for x in range(int(lo), int(hi))
                if image.getpixel((x, y)) < 128
            ]
            assert dark == [], barcode.text
        # the symbol with its quiet zones lies within one box of the template
        left_mm, right_mm = (x0 - quiet) / px, (x1 + quiet) / px
        assert any(
            box.x / mm - 0.1 <= left_mm and right_mm <= (box.x + box.width) / mm + 0.1
            for box in boxes
        ), barcode.text


def test_quadrant_texts_share_one_left_edge_and_keep_off_the_divider(db) -> None:
    from reportlab.lib.units import mm

    template = load_template()
    b = template.boxes
    divider = (b["din"].x + b["din"].width + b["blood_group"].x) / 2 / mm
    found = chars(label_variants(db)["fuc-final-reprint"])
    lower = b["product"]
    in_lower = [c for c in found if lower.y / mm <= c[3] and c[5] <= lower.top / mm]
    left = [c for c in in_lower if c[4] < divider]
    right = [c for c in in_lower if c[2] > divider]
    assert max(c[4] for c in left) <= divider - 1.5  # inner padding from the divider
    assert min(c[2] for c in right) >= divider + 2.0

    def starts(group: list) -> list[float]:
        """Where each printed line begins (the pen position of its first character)."""
        lines: dict[float, float] = {}
        for c in group:
            key = round(c[7], 1)  # baseline
            lines[key] = min(lines.get(key, 99.0), c[6])
        return list(lines.values())

    for group in (left, right):
        edges = starts(group)
        assert len(edges) >= 4
        assert max(edges) - min(edges) <= 0.5, edges  # caption, code/expiry, name/storage
    # and the texts start at the first bar of the quadrant's barcode
    quiet = template.code128.quiet_zone_modules * template.code128.narrow_bar_mm
    assert min(starts(left)) == pytest.approx(lower.x / mm + quiet, abs=0.5)
    assert min(starts(right)) == pytest.approx(b["expiry"].x / mm + quiet, abs=0.5)


def test_short_phrases_stay_on_one_line(db) -> None:
    from cellbatch.documents.fonts import REGULAR, register_fonts
    from cellbatch.documents.labels import _wrap

    pdfs = label_variants(db)
    for pdf in pdfs.values():
        text = pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range()
        assert "(body weight " in text and " kg)" in text
        line = next(t for t in text.splitlines() if "body weight" in t)
        assert "Dose " in line and line.rstrip().endswith(" kg)"), line
    register_fonts()
    phrase = "Dose\u00a02.03\u00a0×10⁶\u00a0cells/kg\u00a0(body\u00a0weight\u00a070\u00a0kg)"
    lines = _wrap(f"Volume 40 mL · Viable cells 142 ×10⁶ cells · {phrase}", REGULAR, 6.5, 160)
    assert lines[-1] == phrase.replace("\u00a0", " ")
    # a phrase longer than a line breaks after all, but a number keeps its unit
    lines = _wrap(phrase, REGULAR, 6.5, 60)
    assert len(lines) > 1 and not any(line.endswith(("70", "2.03")) for line in lines)
    for width in range(40, 120, 5):
        lines = _wrap("Infuse within 4 h of formulation.", REGULAR, 6.5, width)
        assert any("4 h" in line for line in lines), lines
    assert _wrap("Unbreakablewordthatiswiderthanthebox", REGULAR, 6.5, 40) is None


def test_biohazard_symbol_is_large_and_beside_the_legend_and_warnings(db) -> None:
    found = chars(label_variants(db)["fuc-quarantine"])
    [symbol] = [c for c in found if c[0] == "\u2623"]
    height, width = symbol[5] - symbol[3], symbol[4] - symbol[2]
    assert height >= 7.0 and width >= 7.0  # mm
    legend = line_of(found, "BIOHAZARD")
    warnings = [
        line_of(found, "WARNING: Advise patient"),
        line_of(found, "WARNING: Reactive test results"),
    ]
    for line in [legend, *warnings]:
        assert min(c[2] for c in line) >= symbol[4] + 1.0  # right of the symbol, not on it
        middle = (line[0][3] + line[0][5]) / 2
        assert symbol[3] - 0.5 <= middle <= symbol[5] + 0.5  # level with the symbol
    statements = line_of(found, "For clinical trial use only")
    assert min(c[3] for c in statements) >= symbol[5] + 0.3  # the statements stay clear


# ------------------------------------------------------------------ ISBT 128 ST-001, to the letter


def label_of(db, code: str = "EASC-D001"):
    """The content of the bag label of ``code`` as printing it now would give."""
    captured: list = []
    print_labels(db, user(db, "tech1"), code, capture(captured))
    return captured[0]


def rotated_chars(pdf: bytes, page: int = 0) -> list[tuple[str, float, float]]:
    """Characters drawn turned: (char, matrix b, matrix c); b < 0 < c means 90° clockwise."""
    import ctypes

    import pypdfium2.raw as raw

    doc = pypdfium2.PdfDocument(pdf)
    out = []
    try:
        text = doc[page].get_textpage()
        for i in range(text.count_chars()):
            char = text.get_text_range(i, 1)
            matrix = raw.FS_MATRIX()
            if not char.strip() or not raw.FPDFText_GetMatrix(text.raw, i, ctypes.byref(matrix)):
                continue
            if abs(matrix.b) > 1e-6 or abs(matrix.c) > 1e-6:
                out.append((char, matrix.b, matrix.c))
    finally:
        doc.close()
    return out


@GMP24
def test_type3_flags_are_not_printed_and_type1_flags_are_turned_clockwise(demo_db) -> None:
    """ST-001 §7.4.1: the check flags (60–96) never printed; 05 printed, turned 90° clockwise."""
    from dataclasses import replace

    from cellbatch.documents.labels import render

    label = label_of(demo_db)
    din = isbt128.Din.from_code(label.din)
    original = replace(
        label, flags=din.type3_flags(), din_data=din.data_structure(din.type3_flags())
    )
    text, barcodes = pages_of(render([original]))[0]
    assert original.din_data in decoded(barcodes)["Code 128"]  # encoded, as ever
    assert rotated_chars(render([original])) == []
    line = next(t for t in text.splitlines() if din.eye_readable in t)
    assert din.type3_flags() not in line, line  # only the DIN and its boxed check character
    reprint = replace(
        label, flags="05", din_data=din.data_structure("05"), reprint=True, reason="x"
    )
    turned = rotated_chars(render([reprint]))
    assert [c for c, _b, _cc in turned] == ["0", "5"]
    assert all(b < 0 < c for _ch, b, c in turned)  # clockwise: x axis turned down


@GMP24
@GMP10
def test_the_data_matrix_is_a_compound_message_and_verifies(demo_db) -> None:
    """ST-001 §2.4.23: =+04000 then the DIN, product code, expiry and the chain-of-identity
    identifier; the scan check takes it."""
    pdf = print_pdf(demo_db, "EASC-D001")
    [matrix] = decoded(pages_of(pdf)[0][1])["Data Matrix"]
    assert matrix.startswith("=+04000=") and coi_of(demo_db, "EASC-D001") in matrix
    assert matrix == intended(demo_db, "EASC-D001")["Data Matrix"][0]
    report = verify_scans(demo_db, user(demo_db, "tech2"), "EASC-D001", 1, ["]d2" + matrix])
    assert report.ok, report.summary()
    assert report.checks[0].kind == "compound"


def dark_columns(image, x0: float, x1: float, y0: float, y1: float) -> list[int]:
    """Columns between x0 and x1 (pixels) with any dark pixel between rows y0 and y1."""
    return [
        x
        for x in range(int(x0), int(x1))
        if any(image.getpixel((x, y)) < 128 for y in range(int(y0), int(y1)))
    ]


@GMP24
@GMP10
def test_product_code_and_expiry_are_a_concatenated_pair(demo_db, cli) -> None:
    """ST-001 §10.1: 36X ± 16X apart, aligned, no line between; ]C4 reads are verified."""
    pdf = print_pdf(demo_db, "EASC-D001")
    doc = pypdfium2.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=300 / 72).to_pil().convert("L")
    finally:
        doc.close()
    px = 300 / 25.4
    found = {b.text[:2]: b for b in zxingcpp.read_barcodes(image) if "128" in str(b.format)}
    product, expiry = found["=<"].position, found["&>"].position
    left_end = max(product.top_right.x, product.bottom_right.x)
    right_start = min(expiry.top_left.x, expiry.bottom_left.x)
    gap_mm = (right_start - left_end) / px
    assert 5.0 <= gap_mm <= 13.0, gap_mm  # 36X ± 16X at X = 0.25 mm
    top = max(product.top_left.y, expiry.top_left.y)
    bottom = min(product.bottom_left.y, expiry.bottom_left.y)
    assert bottom - top > 5 * px  # one straight scan line passes through both
    assert dark_columns(image, left_end + 2, right_start - 2, top, bottom) == []
    want = intended(demo_db, "EASC-D001")["Code 128"]
    din = next(s for s in want if not s.startswith(("=<", "&>")))
    pair = next(s for s in want if s.startswith("=<")) + next(s for s in want if s.startswith("&>"))
    result = cli(
        "--db", demo_db.url, "label", "scan", "EASC-D001", "--bag", "1",
        "--scan", f"]C0{din}", "--scan", f"]C4{pair}\r\n",
        "--user", "tech2", "--password-stdin", input="demo-tech2-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "scan 2 (concatenated): matches" in result.out
    assert "Data Matrix" not in result.out


@GMP24
def test_the_product_code_text_is_at_most_2_mm_tall(demo_db) -> None:
    """ST-001 §7.4.2.1: text under a linear bar code is at most 2 mm high."""
    label = label_of(demo_db)
    from cellbatch.documents.labels import render

    found = chars(render([label]))
    code = line_of(found, label.product_code)
    heights = [c[5] - c[3] for c in code]
    assert heights and max(heights) <= 2.0, heights
    assert min(c[1] for c in code) >= 6.0  # still readable


@GMP10
def test_a_din_keyed_with_its_check_character_verifies(demo_db, cli) -> None:
    """A smudged DIN barcode is checked by typing the DIN as printed, boxed character too.

    The quarantine label prints its flags (20, the facility's) beside the DIN, turned: they
    are typed too, between the DIN and the check character, as they are read.
    """
    pdf = print_pdf(demo_db, "EASC-D001")
    text = pages_of(pdf)[0][0]
    din = isbt128.Din.from_code(batch_view(demo_db, "EASC-D001").to_dict()["bag"]["din"])
    assert din.eye_readable in text
    assert [c for c, _b, _c in rotated_chars(pdf)] == list(QUARANTINE_FIRST)
    want = intended(demo_db, "EASC-D001")["Code 128"]
    rest = [s for s in want if s.startswith(("=<", "&>"))]
    typed = f"{din.eye_readable} {QUARANTINE_FIRST} {din.check}"
    result = cli(
        "--db", demo_db.url, "label", "scan", "EASC-D001", "--bag", "1",
        "--scan", typed, *(a for s in rest for a in ("--scan", s)),
        "--user", "tech2", "--password-stdin", input="demo-tech2-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "scan 1 (keyed): matches" in result.out
    tech2 = user(demo_db, "tech2")
    without = verify_scans(demo_db, tech2, "EASC-D001", 1, [f"{din.eye_readable} {din.check}"])
    assert not without.ok
    assert "type them between the DIN and the check character" in without.checks[0].differences[0]
    mistyped = (
        f"{din.eye_readable} {QUARANTINE_FIRST} {isbt128.ALPHABET[(din.check_value + 1) % 37]}"
    )
    report = verify_scans(demo_db, tech2, "EASC-D001", 1, [mistyped, *rest])
    assert not report.ok and "wrong check character" in report.checks[0].differences[0]


@GMP24
def test_the_example_fin_is_one_iccbba_keeps_for_examples(demo_db) -> None:
    """ST-001 §5.3: A9990–A9999 are set aside for validation; the shipped settings use one."""
    fin = load_site_settings().fin
    assert fin[0] == "A" and 9990 <= int(fin[1:]) <= 9999
    text, barcodes = pages_of(print_pdf(demo_db, "EASC-D001"))[0]
    [din] = [b for b in decoded(barcodes)["Code 128"] if not b.startswith(("=<", "&>"))]
    assert din[1:6] == fin and f"{fin} " in text
    assert "EXAMPLE FIN – NOT FOR CLINICAL USE" in text
