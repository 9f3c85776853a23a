"""One storage range per product (issue 12 review, findings 1, 2, 6): held once in the
approved site settings, printed by the label, written in the accompanying document, checked
at the issue (refused outside) and at the receipt (an excursion outside); temperatures a
transport logger cannot read are refused, typed or read from the logger's file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellbatch.domain.errors import InvalidInput
from cellbatch.services.commands.custody import custody_chain, issue_bag
from cellbatch.services.commands.site_settings import approve_site_settings
from cellbatch.site import default_site_settings_path, load_site_settings
from tests.test_bedside import label_scans, user, ward  # noqa: F401
from tests.test_labels import pages_of, print_pdf
from tests.test_receipt import holds_on_batch, issue, receive

GMP30 = pytest.mark.requirement("GMP-30")


def _document_text(db) -> str:
    import pypdfium2

    from cellbatch.documents.accompanying import render
    from cellbatch.services.queries.accompanying import accompanying_document

    page = pypdfium2.PdfDocument(render(accompanying_document(db, "EASC-D001")))[0]
    return " ".join(page.get_textpage().get_text_range().split())


def _label_text(db) -> str:
    [(text, _codes)] = pages_of(print_pdf(db, "EASC-D001"))
    return " ".join(text.split())


@GMP30
def test_the_label_the_document_and_the_receipt_say_one_storage_range(ward):  # noqa: F811
    """A bag kept as its label says (20 °C) is received within range; 5 °C is an excursion."""
    label = _label_text(ward)
    assert "Store at 15–25 °C. Do not refrigerate or freeze." in label, label
    issue(ward, logger=None)
    document = _document_text(ward)
    assert "Store at 15–25 °C. Do not refrigerate or freeze." in document, document
    assert "at 15–25 °C in its validated shipper" in document and "2–8" not in document
    receipt = receive(ward, temperature="20 degC")
    assert receipt.excursion is None and receipt.text().endswith("within 15–25 °C")
    assert not holds_on_batch(ward)


@GMP30
def test_a_refrigerated_bag_is_an_excursion_at_the_receipt(ward, cli):  # noqa: F811
    issue(ward, logger=None)
    scans = [a for s in label_scans(ward) for a in ("--scan", s)]
    r = cli("--db", ward.url, "custody", "receive", *scans, "--condition", "intact",
            "--temperature", "5 degC", user="clin1")  # fmt: skip
    assert r.code == 0, r.err
    assert "EXCURSION: reading on arrival 5 °C, outside 15–25 °C" in r.out and "ON HOLD" in r.out


@GMP30
def test_a_new_approved_range_is_the_one_every_door_uses(ward, tmp_path):  # noqa: F811
    """The range is written once: a new version of the settings changes label, document,
    issue and receipt together."""
    text = default_site_settings_path().read_text(encoding="utf-8")
    edited = tmp_path / "site.toml"
    edited.write_text(text.replace('["15 degC", "25 degC"]', '["18 degC", "22 degC"]'))
    approve_site_settings(ward, "qa1", "demo-qa1-pass", edited, reason="new stability data")
    assert "Store at 18–22 °C." in _label_text(ward)
    with pytest.raises(InvalidInput, match=r"--temperature: 24 °C is outside .* 18–22 °C"):
        issue_bag(ward, user(ward, "tech1"), "clin1", "demo-clin1-pass", label_scans(ward),
                  container="shipper", temperature="24 degC")  # fmt: skip
    issue(ward, logger=None)
    assert "at 18–22 °C in its validated shipper" in _document_text(ward)
    assert receive(ward, temperature="24 degC").excursion == (
        "reading on arrival 24 °C, outside 18–22 °C"
    )


@GMP30
def test_a_bag_read_outside_its_range_at_the_issue_is_not_issued(ward, cli):  # noqa: F811
    scans = [a for s in label_scans(ward) for a in ("--scan", s)]
    r = cli("--db", ward.url, "custody", "issue", *scans, "--to", "clin1", "--container", "s",
            "--temperature", "40 degC", "--user", "tech1", "--password-stdin",
            input="demo-tech1-pass\ndemo-clin1-pass\n")  # fmt: skip
    assert r.code not in (0, 70) and "Traceback" not in r.err
    assert "--temperature" in r.err and "40 °C is outside the bag's storage range 15–25 °C" in r.err
    assert custody_chain(ward, "EASC-D001") == []
    r = cli("--db", ward.url, "custody", "issue", *scans, "--to", "clin1", "--container", "s",
            "--temperature", "21 degC", "--user", "tech1", "--password-stdin",
            input="demo-tech1-pass\ndemo-clin1-pass\n")  # fmt: skip
    assert r.code == 0, r.err
    assert [s.temperature_c for s in custody_chain(ward, "EASC-D001")] == [21]


@pytest.mark.parametrize(
    ("storage", "storage_range", "expected"),
    [
        ("Store at 15–25 °C.", '["15 degC", "25 degC"]', "storage: must print the storage range"),
        ("Store at {range}.", None, "storage_range: missing"),
        ("Store at {range}.", '["25 degC", "15 degC"]', "lower temperature (25 °C) must be below"),
        ("Store at {range}.", '["15 kg", "25 degC"]', "storage_range: expected a temperature"),
        ("Store at {range}.", '"15-25 degC"', "must be two temperatures in quotes"),
    ],
)
def test_the_settings_write_the_range_once(tmp_path, storage, storage_range, expected):
    text = default_site_settings_path().read_text(encoding="utf-8")
    head, _, tail = text.partition("[products.easc-dose]")
    body, _, rest = tail.partition("\n\n")
    lines = [
        line for line in body.splitlines() if not line.startswith(("storage", "#")) and line.strip()
    ]
    lines.append(f'storage = "{storage}"')
    if storage_range is not None:
        lines.append(f"storage_range = {storage_range}")
    path = tmp_path / "site.toml"
    path.write_text(head + "[products.easc-dose]\n" + "\n".join(lines) + "\n\n" + rest)
    with pytest.raises(InvalidInput) as caught:
        load_site_settings(path)
    assert "products.easc-dose" in str(caught.value) and expected in str(caught.value)


def test_the_shipped_dose_products_keep_fresh_doses_at_room_temperature():
    settings = load_site_settings()
    for key in ("easc-dose", "fuc-bmmsc-dose"):
        product = settings.product(key)
        assert product.storage_range.text() == "15–25 °C"
        assert str(product.storage_range.low.units) == "degree_Celsius"
        assert product.storage_text().startswith("Store at 15–25 °C. Do not refrigerate")


@pytest.mark.parametrize("typed", ["-100 degC", "61 degC", "-300 degC"])
def test_an_implausible_typed_temperature_is_refused(ward, typed):  # noqa: F811
    with pytest.raises(InvalidInput, match="--temperature"):
        issue_bag(ward, user(ward, "tech1"), "clin1", "demo-clin1-pass", label_scans(ward),
                  container="shipper", temperature=typed)  # fmt: skip
    issue(ward, logger=None)
    with pytest.raises(InvalidInput, match="--temperature"):
        receive(ward, temperature=typed)
    assert [s.kind for s in custody_chain(ward, "EASC-D001")] == ["issue"]


def _file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "readings.csv"
    path.write_text("# logger TL-0042\ntime,temperature [degC]\n" + "\n".join(rows) + "\n")
    return path


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@GMP30
def test_the_logger_file_is_refused_for_an_impossible_or_future_reading(ward, tmp_path):  # noqa: F811
    issued = issue(ward)
    during = [_at(issued + timedelta(minutes=m)) for m in (15, 30, 45)]
    cases = [
        ([f"{during[0]},20", f"{during[1]},-1000", f"{during[2]},21"], "line 4: -1000 °C is not"),
        ([f"{during[0]},20", f"{during[1]},75", f"{during[2]},21"], "line 4: 75 °C is not"),
        ([f"{during[0]},20", f"{during[1]},21", "2027-06-01T10:00:00Z,21"], "line 5: reading at"),
    ]
    for rows, expected in cases:
        with pytest.raises(InvalidInput, match="--logger-file") as caught:
            receive(ward, _file(tmp_path, rows))
        assert expected in caught.value.message, caught.value.message
    assert [s.kind for s in custody_chain(ward, "EASC-D001")] == ["issue"]
    before = [_at(issued - timedelta(minutes=m)) for m in (30, 20, 10)]
    receipt = receive(ward, _file(tmp_path, [f"{t},4" for t in before] + [f"{during[0]},20"]))
    assert receipt.excursion is None
    assert receipt.text().endswith("within 15–25 °C; not counted: 3 readings before the issue")


def test_now_is_after_every_counted_reading():
    """The receipt's window ends now: a reading dated a minute ahead (a logger's clock) is
    not counted, an hour ahead is refused (domain rule, no database)."""
    from cellbatch.domain import transport

    storage = load_site_settings().product("easc-dose").storage_range
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    issued = now - timedelta(hours=2)
    reads = [transport.Reading(now - timedelta(hours=1), 20.0, 3),
             transport.Reading(now + timedelta(minutes=1), 20.0, 4)]  # fmt: skip
    seen = transport.transit(reads, issued, now, "--logger-file", storage)
    assert (seen.readings, seen.uncounted()) == (1, "; not counted: 1 reading after the receipt")
    late = [*reads, transport.Reading(now + timedelta(hours=1), 20.0, 5)]
    with pytest.raises(InvalidInput, match="line 5: reading at 2026-12-02 13:00 UTC is after"):
        transport.transit(late, issued, now, "--logger-file", storage)


@GMP30
def test_a_reading_on_the_bound_in_another_unit_is_within_the_range(ward):  # noqa: F811
    """77 °F is 25 °C: pint gives 25.000000000000057, which must not refuse the issue ('25 °C is
    outside 15–25 °C') nor be an excursion at the receipt; compared to 0.01 °C."""
    from cellbatch.domain.transport import StorageRange

    issue_bag(ward, user(ward, "tech1"), "clin1", "demo-clin1-pass", label_scans(ward),
              container="shipper", temperature="77 degF")  # fmt: skip
    assert [round(s.temperature_c, 6) for s in custody_chain(ward, "EASC-D001")] == [25]
    receipt = receive(ward, temperature="77 degF")
    assert receipt.excursion is None and not holds_on_batch(ward)
    storage = StorageRange.parse("15 degC", "25 degC", "storage_range")
    assert (
        storage.contains(25.004) and not storage.contains(25.01) and storage.distance(25.004) == 0
    )
