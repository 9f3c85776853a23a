"""ISBT 128 data structures (cellbatch.isbt128) and site settings (cellbatch.site)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellbatch import isbt128
from cellbatch.domain.errors import InvalidInput
from cellbatch.isbt128 import (
    ALPHABET,
    COLLECTION_TYPES,
    Din,
    ProductCode,
    biohazard_collection_type,
    check_character,
    check_value,
    clean_scan,
    datamatrix_content,
    division_code,
    expiry_data_structure,
    expiry_eye_readable,
    flag_meaning,
    parse_datamatrix,
    parse_din,
    parse_expiry,
    parse_keyed_din,
    parse_product_code,
    parse_scan,
    validate_fin,
    validate_flags,
)
from cellbatch.site import (
    EXAMPLE_NOTICE,
    default_site_settings_path,
    load_site_settings,
)

REPO = Path(__file__).resolve().parent.parent
GMP10 = pytest.mark.requirement("GMP-10")

EXAMPLE_DIN = Din("W0000", 9, 123456)
EXAMPLE_PRODUCT = ProductCode("S1234", "V", "00")
EXAMPLE_EXPIRY = datetime(2026, 11, 22, 13, 0)

# --- strategies ------------------------------------------------------------------------------

fin_first = st.sampled_from("ABCDEFGHIJKLMNPQRSTUVWXYZ123456789")
fins = st.builds(
    lambda first, rest: first + rest,
    fin_first,
    st.text(alphabet="0123456789", min_size=4, max_size=4),
)
dins = st.builds(
    Din, fins, st.integers(min_value=0, max_value=99), st.integers(min_value=0, max_value=999_999)
)
type1_flags = st.sampled_from(["00", "01", "02", "03", "04", "05"])
products = st.builds(
    ProductCode,
    st.integers(min_value=0, max_value=9999).map(lambda n: f"S{n:04d}"),
    st.sampled_from(sorted(COLLECTION_TYPES)),
    st.one_of(
        st.just("00"),
        st.builds(
            lambda d, s: d + s,
            st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            st.sampled_from("0abcdefghijklmnopqrstuvwxyz"),
        ),
    ),
)
expiries = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31, 23, 59)
).map(lambda dt: dt.replace(second=0, microsecond=0))


def din_flags(din: Din, choice: str) -> str:
    return din.type3_flags() if choice == "type3" else choice


flag_choices = st.sampled_from(["00", "01", "02", "03", "04", "05", "type3"])


def verifies(din_and_check: str) -> bool:
    """A 14-character DIN + check character passes the mod 37-2 check."""
    return check_character(din_and_check[:13]) == din_and_check[13]


# --- check character -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("din13", "expected"),
    [
        ("G123417654321", "A"),
        ("A999818123456", "N"),
        ("W000009123456", "G"),
        ("G123498654321", "H"),  # JPAC Red Book Annex 2 worked example (checksum 17)
    ],
)
def test_worked_examples(din13: str, expected: str) -> None:
    assert check_character(din13) == expected
    assert Din.from_code(din13).check == expected


def test_check_value_and_type3_flags_of_worked_example() -> None:
    assert check_value("G123498654321") == 17
    assert Din.from_code("G123498654321").type3_flags() == "77"
    assert EXAMPLE_DIN.type3_flags() == "76"


@GMP10
@given(dins, st.integers(min_value=0, max_value=13), st.sampled_from(ALPHABET))
def test_any_single_substitution_is_detected(din: Din, position: int, replacement: str) -> None:
    good = din.code + din.check
    assert verifies(good)
    if good[position] == replacement:
        return
    bad = good[:position] + replacement + good[position + 1 :]
    assert not verifies(bad)


@GMP10
@given(dins, st.integers(min_value=0, max_value=12))
def test_any_adjacent_transposition_is_detected(din: Din, position: int) -> None:
    good = din.code + din.check
    a, b = good[position], good[position + 1]
    if a == b:
        return
    bad = good[:position] + b + a + good[position + 2 :]
    assert not verifies(bad)


@GMP10
def test_check_character_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="13 characters, got 12"):
        check_character("W00000912345")
    with pytest.raises(InvalidInput, match="character 5 of the DIN, 'a'"):
        check_character("W000a09123456")


# --- DIN -------------------------------------------------------------------------------------


def test_din_properties() -> None:
    assert EXAMPLE_DIN.code == "W000009123456"
    assert EXAMPLE_DIN.check == "G"
    assert EXAMPLE_DIN.eye_readable == "W0000 09 123456"
    assert str(EXAMPLE_DIN) == "W0000 09 123456"
    assert EXAMPLE_DIN.data_structure() == "=W00000912345600"
    assert EXAMPLE_DIN.data_structure("02") == "=W00000912345602"
    assert EXAMPLE_DIN.data_structure(EXAMPLE_DIN.type3_flags()) == "=W00000912345676"
    assert len(EXAMPLE_DIN.data_structure()) == 16


@given(dins)
def test_din_from_code_round_trip(din: Din) -> None:
    assert Din.from_code(din.code) == din
    assert len(din.code) == 13


@GMP10
@pytest.mark.parametrize("fin", ["WO000", "OW000", "W00O0", "wo000"])
def test_fin_with_letter_o_is_refused(fin: str) -> None:
    with pytest.raises(InvalidInput, match="letter O is not allowed.*looks like zero") as info:
        validate_fin(fin)
    assert info.value.field == "fin"
    with pytest.raises(InvalidInput, match="letter O is not allowed"):
        Din(fin, 9, 123456)


@GMP10
@pytest.mark.parametrize(
    ("fin", "reason"),
    [
        ("00000", "cannot start with the digit 0"),
        ("01234", "cannot start with the digit 0"),
        ("W000", "5 characters.*got 4"),
        ("W00000", "5 characters.*got 6"),
        ("w0000", "capitals"),
        ("#0000", "first character must be a letter A–N, P–Z or a digit 1–9"),
        ("WA000", "last 4 characters of a FIN must be digits"),
    ],
)
def test_bad_fin_is_refused_with_reason(fin: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        validate_fin(fin)


def test_good_fins() -> None:
    for fin in ["W0000", "A9998", "19999", "N1234", "P0001", "W9999"]:
        assert validate_fin(fin) == fin


@GMP10
def test_din_year_and_sequence_are_range_checked() -> None:
    with pytest.raises(InvalidInput, match=r"\(0–99\), got 100") as info:
        Din("W0000", 100, 1)
    assert info.value.field == "year"
    with pytest.raises(InvalidInput, match="0–999999"):
        Din("W0000", 9, 1_000_000)
    with pytest.raises(InvalidInput, match="year"):
        Din("W0000", True, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="sequence number and must be digits"):
        Din.from_code("W00000912345X")


# --- flags -----------------------------------------------------------------------------------


@GMP10
def test_flags_accepted_and_refused() -> None:
    """ST-001 Table 3: type 1 (00–13, 15–19), type 2 (20–59, the facility's), type 3 (60–96)."""
    for flags in ["00", "01", "05", "06", "07", "13", "15", "19", "20", "42", "59", "76"]:
        assert validate_flags(EXAMPLE_DIN, flags) == flags
    with pytest.raises(InvalidInput, match="expected 76 .*check value 16.*got 77"):
        validate_flags(EXAMPLE_DIN, "77")
    for flags in ["14", "97", "99", "AB", "0", "000"]:
        with pytest.raises(InvalidInput, match="not accepted|2 digits"):
            validate_flags(EXAMPLE_DIN, flags)
    with pytest.raises(InvalidInput, match="expected 76"):
        EXAMPLE_DIN.data_structure("60")


def test_flag_meaning_and_type() -> None:
    assert flag_meaning("00") == "no flag"
    assert flag_meaning("03") == "container 3 of a set"
    assert flag_meaning("05") == "second (or repeated) demand-printed label"
    assert flag_meaning("07") == "test tube label"
    assert flag_meaning("42") == "flag 42, defined by the facility"
    assert flag_meaning("76") == "check value 16"
    with pytest.raises(InvalidInput):
        flag_meaning("14")
    assert [isbt128.flag_type(f) for f in ("05", "07", "20", "59", "60", "96", "14", "97")] == [
        1, 1, 2, 2, 3, 3, None, None,
    ]  # fmt: skip


@given(dins)
def test_type3_flags_are_60_plus_check_value(din: Din) -> None:
    flags = din.type3_flags()
    assert len(flags) == 2
    assert int(flags) - 60 == ALPHABET.index(din.check)
    assert 60 <= int(flags) <= 96


@given(dins, flag_choices)
def test_din_structure_round_trip(din: Din, choice: str) -> None:
    flags = din_flags(din, choice)
    assert parse_din(din.data_structure(flags)) == (din, flags)
    scan = parse_scan(din.data_structure(flags))
    assert (scan.kind, scan.din, scan.flags) == ("din", din, flags)
    assert scan.product is None and scan.expiry is None


# --- keyed DIN -------------------------------------------------------------------------------


@GMP10
def test_keyed_din_with_check_character() -> None:
    assert parse_keyed_din("W0000 09 123456 G") == EXAMPLE_DIN
    assert parse_keyed_din("W000009123456G") == EXAMPLE_DIN
    with pytest.raises(InvalidInput, match="wrong check character: expected G, got H"):
        parse_keyed_din("W0000 09 123456 H")
    with pytest.raises(InvalidInput, match="wrong check character"):
        parse_keyed_din("W0000 09 123465 G")  # transposed digits
    with pytest.raises(InvalidInput, match="got 13 characters"):
        parse_keyed_din("W0000 09 123456")


@GMP10
def test_a_keyed_din_is_a_scan() -> None:
    """A smudged barcode is checked by typing the DIN as printed, with its boxed character."""
    scan = parse_scan("W0000 09 123456 G")
    assert (scan.kind, scan.din) == ("keyed", EXAMPLE_DIN)
    assert scan.flags == EXAMPLE_DIN.type3_flags()  # the boxed character stands for them
    printed = parse_scan("W0000 09 123456 05 G\r\n")  # flags printed beside the DIN: typed too
    assert (printed.din, printed.flags) == (EXAMPLE_DIN, "05")
    with pytest.raises(InvalidInput, match="wrong check character: expected G, got H") as info:
        parse_scan("W0000 09 123456 H")
    assert info.value.field == "scan"
    with pytest.raises(InvalidInput, match="'76' typed between the DIN and the check character"):
        parse_scan("W0000 09 123456 76 G")


# --- product code ----------------------------------------------------------------------------


def test_product_code_structure() -> None:
    product = ProductCode("S1234", "V", "A0")
    assert product.data_structure() == "=<S1234VA0"
    assert len(product.data_structure()) == 10
    assert product.eye_readable == "S1234VA0"
    assert product.collection_type_meaning == "Volunteer homologous (allogeneic)"
    assert ProductCode("S1234", "2").division == "00"


@given(products)
def test_product_code_round_trip(product: ProductCode) -> None:
    assert parse_product_code(product.data_structure()) == product
    scan = parse_scan(product.data_structure())
    assert (scan.kind, scan.product) == ("product_code", product)


@GMP10
@pytest.mark.parametrize(
    ("args", "field", "reason"),
    [
        (("T1234", "V", "00"), "description_code", "S followed by 4 digits"),
        (("S123", "V", "00"), "description_code", "S followed by 4 digits"),
        (("S12A4", "V", "00"), "description_code", "S followed by 4 digits"),
        (("S1234", "Z", "00"), "collection_type", "unknown collection type 'Z'"),
        (("S1234", "V", "a0"), "division", "division code"),
        (("S1234", "V", "0A"), "division", "division code"),
        (("S1234", "V", "A"), "division", "division code"),
    ],
)
def test_product_code_refusals(args: tuple[str, str, str], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as info:
        ProductCode(*args)
    assert info.value.field == field


def test_division_codes() -> None:
    assert division_code(1) == "A0"
    assert division_code(2) == "B0"
    assert division_code(26) == "Z0"
    for n in (0, 27, -1):
        with pytest.raises(InvalidInput, match=f"bag number {n} has no division code"):
            division_code(n)
    assert [division_code(n) for n in range(1, 27)] == [
        f"{c}0" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ]


def test_biohazard_collection_type() -> None:
    assert biohazard_collection_type("2") == "3"
    assert biohazard_collection_type("1") == "X"
    assert biohazard_collection_type("4") == "6"
    assert biohazard_collection_type("3") == "3"
    with pytest.raises(InvalidInput, match="'V' has no biohazard variant"):
        biohazard_collection_type("V")


# --- expiry ----------------------------------------------------------------------------------


def test_expiry_structure() -> None:
    assert expiry_data_structure(datetime(2026, 11, 22, 13, 0)) == "&>0263261300"
    assert expiry_data_structure(date(2018, 12, 31)) == "&>0183652359"  # ST-012 example
    assert expiry_data_structure(datetime(2026, 1, 1, 0, 0)) == "&>0260010000"
    assert expiry_data_structure(datetime(2100, 3, 1, 8, 5)) == "&>1000600805"
    assert expiry_data_structure(datetime(2026, 11, 22, 13, 0, 59)) == "&>0263261300"
    assert expiry_eye_readable(datetime(2026, 11, 22, 13, 0)) == "2026-11-22 13:00"
    assert expiry_eye_readable(date(2026, 11, 22)) == "2026-11-22 23:59"


def test_date_only_expiry_means_2359() -> None:
    assert parse_expiry(expiry_data_structure(date(2026, 11, 22))) == datetime(2026, 11, 22, 23, 59)


@given(expiries)
def test_expiry_round_trip(moment: datetime) -> None:
    text = expiry_data_structure(moment)
    assert len(text) == 12
    assert parse_expiry(text) == moment
    scan = parse_scan(text)
    assert (scan.kind, scan.expiry) == ("expiry", moment)


def test_expiry_leap_day() -> None:
    assert parse_expiry("&>0283662359") == datetime(2028, 12, 31, 23, 59)


@GMP10
def test_expiry_refusals() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        expiry_data_structure(datetime(2026, 11, 22, 13, 0, tzinfo=UTC))
    with pytest.raises(InvalidInput, match="2000–2999, got 1999"):
        expiry_data_structure(datetime(1999, 12, 31, 12, 0))
    with pytest.raises(InvalidInput, match="bad day of year .*2026 has days 001–365, got 366"):
        parse_expiry("&>0263662359")
    with pytest.raises(InvalidInput, match="got 000"):
        parse_expiry("&>0260002359")
    with pytest.raises(InvalidInput, match="bad time .*got 24:00"):
        parse_expiry("&>0263262400")
    with pytest.raises(InvalidInput, match="bad time .*got 13:60"):
        parse_expiry("&>0263261360")
    with pytest.raises(InvalidInput, match="10 digits"):
        parse_expiry("&>02632613A0")
    with pytest.raises(InvalidInput, match="expected 12 characters.*got 11"):
        parse_expiry("&>026326130")


# --- scanner input ---------------------------------------------------------------------------


@GMP10
@pytest.mark.parametrize(
    "raw",
    [
        "=W00000912345600",
        "=W00000912345600\r\n",
        "=W00000912345600\n",
        "  =W00000912345600\r",
        "]C0=W00000912345600\r\n",
        "]C1=W00000912345600",
    ],
)
def test_scanner_noise_is_removed(raw: str) -> None:
    scan = parse_scan(raw)
    assert scan.kind == "din"
    assert scan.din == EXAMPLE_DIN
    assert scan.flags == "00"
    assert scan.text == "=W00000912345600"


def test_clean_scan() -> None:
    assert clean_scan("]d2=<S1234V00\r\n") == "=<S1234V00"
    assert clean_scan("]C0&>0263261300") == "&>0263261300"
    assert clean_scan("=]202612") == "=]202612"  # a ']' inside data is data


@GMP10
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "nothing was scanned"),
        ("\r\n", "nothing was scanned"),
        ("AB12345", "type the 13-character DIN.*got 7 characters"),
        ("ABCDEFG", "unknown data identifier 'AB'"),
        ("=%5100", "unknown data identifier '=%'"),
        ("&(12345", "unknown data identifier '&\\('"),
        ("=", "unknown data identifier '='"),
        ("=W0000091234560", "expected 16 characters.*got 15"),
        ("=W00000912345600X", "expected 16 characters.*got 17"),
        ("=<S1234V0", "expected 10 characters.*got 9"),
        ("&>02632613000", "expected 12 characters.*got 13"),
        ("=W00000912345677", "wrong check flags: expected 76 .*got 77"),
        ("=W00000912345614", "flag characters '14' are not accepted"),
        ("=WO0000912345600", "letter O is not allowed"),
        ("=O000009123456" + "00", "letter O is not allowed"),
        ("=0000009123456" + "00", "cannot start with the digit 0"),
        ("=w00000912345600", "capitals"),
        ("=W0000AB12345600", "year and must be digits"),
        ("&>0263671300", "bad day of year"),
        ("&>0263262460", "bad time"),
        ("=<S1234Z00", "unknown collection type 'Z'"),
        ("=<S1234V0A", "division code"),
    ],
)
def test_scan_refusals_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as info:
        parse_scan(raw)
    assert info.value.field == "scan"
    assert str(info.value).startswith("scan: ")


# --- Data Matrix -----------------------------------------------------------------------------


def test_datamatrix_content() -> None:
    """ST-001 §2.4.23: a 2-D symbol with several structures is a compound message (=+aabbb)."""
    content = datamatrix_content(EXAMPLE_DIN, "00", EXAMPLE_PRODUCT, EXAMPLE_EXPIRY)
    assert content == "=+03000=W00000912345600=<S1234V00&>0263261300"
    assert len(content) == 7 + 16 + 10 + 12


@given(dins, flag_choices, products, expiries)
def test_datamatrix_round_trip(
    din: Din, choice: str, product: ProductCode, expiry: datetime
) -> None:
    flags = din_flags(din, choice)
    content = datamatrix_content(din, flags, product, expiry)
    assert parse_datamatrix(content) == (din, flags, product, expiry, None)
    scan = parse_scan("]d2" + content + "\r\n")
    assert (scan.kind, scan.structures) == ("compound", 3)
    assert (scan.din, scan.flags, scan.product, scan.expiry) == (din, flags, product, expiry)


def test_datamatrix_in_another_order() -> None:
    din_part = EXAMPLE_DIN.data_structure()
    content = isbt128.compound_message(
        EXAMPLE_PRODUCT.data_structure(), expiry_data_structure(EXAMPLE_EXPIRY), din_part
    )
    assert parse_datamatrix(content) == (EXAMPLE_DIN, "00", EXAMPLE_PRODUCT, EXAMPLE_EXPIRY, None)


@GMP10
def test_datamatrix_refusals() -> None:
    good = datamatrix_content(EXAMPLE_DIN, "00", EXAMPLE_PRODUCT, EXAMPLE_EXPIRY)
    with pytest.raises(InvalidInput, match="unexpected characters 'XY' at position 39") as info:
        parse_datamatrix(good + "XY")
    assert info.value.field == "scan"
    with pytest.raises(InvalidInput, match="unexpected characters '=%5100'.*'=%'"):
        parse_scan(good + "=%5100")
    with pytest.raises(InvalidInput, match="expiry at position 27 is cut short"):
        parse_scan(good[:-1])
    with pytest.raises(InvalidInput, match="says 3 data structures follow, but 2 do"):
        parse_scan(good[:-12])
    with pytest.raises(InvalidInput, match="missing: expiry"):
        parse_datamatrix(
            isbt128.compound_message(EXAMPLE_DIN.data_structure(), EXAMPLE_PRODUCT.data_structure())
        )
    with pytest.raises(InvalidInput, match="DIN twice"):
        parse_scan(
            isbt128.compound_message(EXAMPLE_DIN.data_structure(), EXAMPLE_DIN.data_structure())
        )
    with pytest.raises(InvalidInput, match="wrong check flags"):
        parse_scan(good.replace("=W00000912345600", "=W00000912345677"))
    with pytest.raises(InvalidInput, match="specified sequence 001"):
        parse_scan("=+03001" + good[7:])
    with pytest.raises(InvalidInput, match="starts with =\\+ and 5 digits.*got 'XX=\\+030'"):
        parse_datamatrix("XX" + good)


@GMP10
def test_three_structures_without_the_compound_header_are_refused() -> None:
    """The old, non-conformant Data Matrix content (no =+ header) is not an ISBT 128 message."""
    headerless = datamatrix_content(EXAMPLE_DIN, "00", EXAMPLE_PRODUCT, EXAMPLE_EXPIRY)[7:]
    with pytest.raises(InvalidInput, match="3 data structures with no compound message header"):
        parse_scan("]d2" + headerless)


@GMP10
@pytest.mark.parametrize("identifier", ["]C4", ""])
def test_a_concatenated_read_is_two_linear_bar_codes(identifier: str) -> None:
    """ST-001 §10.2: product code and expiry read together as one string (]C4 + left + right)."""
    pair = EXAMPLE_PRODUCT.data_structure() + expiry_data_structure(EXAMPLE_EXPIRY)
    scan = parse_scan(identifier + pair + "\r\n")
    assert (scan.kind, scan.structures) == ("concatenated", 2)
    assert (scan.product, scan.expiry, scan.din) == (EXAMPLE_PRODUCT, EXAMPLE_EXPIRY, None)
    with pytest.raises(InvalidInput, match="concatenated read \\(\\]C4\\) holds two bar codes"):
        parse_scan("]C4" + EXAMPLE_PRODUCT.data_structure())


def test_product_divisions_number_the_vials() -> None:
    assert isbt128.divisions_structure(7) == "=,000007"
    assert isbt128.parse_divisions("=,000007") == "000007"
    assert ProductCode("S9903", "V", "99").data_structure() == "=<S9903V99"
    content = isbt128.compound_message(
        EXAMPLE_DIN.data_structure(),
        ProductCode("S9903", "V", "99").data_structure(),
        isbt128.divisions_structure(12),
    )
    scan = parse_scan("]d2" + content)
    assert (scan.din, scan.product.division, scan.divisions) == (EXAMPLE_DIN, "99", "000012")
    with pytest.raises(InvalidInput, match="1–999999"):
        isbt128.divisions_structure(0)
    with pytest.raises(InvalidInput, match="6 capital letters or digits"):
        isbt128.parse_divisions("=,00a007")


# --- site settings ---------------------------------------------------------------------------


def test_shipped_site_settings_load() -> None:
    settings = load_site_settings(REPO / "labels" / "site.toml")
    assert settings.example is True
    assert settings.example_notice == EXAMPLE_NOTICE == "EXAMPLE FIN – NOT FOR CLINICAL USE"
    assert validate_fin(settings.fin) == settings.fin
    assert {"easc-dose", "fuc-bmmsc-dose"} <= set(settings.products)
    assert settings.product("easc-dose").collection_type == "V"
    assert settings.product("fuc-bmmsc-dose").collection_type == "2"
    for product in settings.products.values():
        assert product.product_code().data_structure().startswith("=<S")
    statements = " ".join(settings.statements).lower()
    for needed in [
        "intended recipient",
        "irradiate",
        "leukocyte reduction filter",
        "investigational",
    ]:
        assert needed in statements
    assert settings.facility_address
    assert settings.biohazard_legend
    assert settings.communicable_disease_warning
    with pytest.raises(InvalidInput, match="unknown product 'nope'"):
        settings.product("nope")


def test_the_shipped_settings_offer_eu_uk_and_us_statements_and_choose_the_uk_ones() -> None:
    """A UK facility prints the EU/UK investigational wording, not the US 'Caution: New Drug'."""
    settings = load_site_settings(REPO / "labels" / "site.toml")
    assert default_site_settings_path() == REPO / "labels" / "site.toml"
    assert settings.timezone == "Europe/London" and settings.statement_set == "eu-uk"
    assert {"eu-uk", "us"} <= set(settings.statement_sets)
    printed = " ".join(settings.statements)
    assert "For clinical trial use only" in printed
    assert "Caution: New Drug" not in printed
    assert any("Caution: New Drug" in s for s in settings.statement_sets["us"])


SITE_TOML = """\
[facility]
name = "Test Facility"
address = ["1 Test Road"]
fin = "W9999"
example = true

[labels]
statements = ["For use by the intended recipient only."]
biohazard_legend = "BIOHAZARD"
communicable_disease_warning = "WARNING: Advise patient of communicable disease risks."

[products.easc-dose]
description_code = "S9901"
collection_type = "V"
name = "eASC"
storage = "Store at 15–25 °C."
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_site_settings(tmp_path: Path) -> None:
    settings = load_site_settings(write(tmp_path, SITE_TOML))
    assert settings.fin == "W9999"
    assert settings.products["easc-dose"].product_code("A0").data_structure() == "=<S9901VA0"


def test_a_statement_set_is_chosen_per_site(tmp_path: Path) -> None:
    sets = """
statement_set = "us"

[labels.statement_sets.us]
statements = ["Caution: New Drug—Limited by Federal (or United States) law to investigational use."]

[labels.statement_sets.eu-uk]
statements = ["For clinical trial use only."]
"""
    text = SITE_TOML.replace('"WARNING: Advise patient of communicable disease risks."\n', (
        '"WARNING: Advise patient of communicable disease risks."\n' + sets
    ))  # fmt: skip
    us = load_site_settings(write(tmp_path, text))
    assert us.statements[0] == "For use by the intended recipient only."
    assert us.statements[1].startswith("Caution: New Drug")
    uk = load_site_settings(
        write(tmp_path, text.replace('statement_set = "us"', 'statement_set = "eu-uk"'))
    )
    assert uk.statements[1:] == ["For clinical trial use only."]
    path = write(tmp_path, text.replace('statement_set = "us"', 'statement_set = "fr"'))
    with pytest.raises(InvalidInput, match="no statement set 'fr'; the settings offer: eu-uk, us"):
        load_site_settings(path)


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ('fin = "W9999"', 'fin = "WO999"', "facility.fin", "letter O is not allowed"),
        ('fin = "W9999"', 'fin = "09999"', "facility.fin", "cannot start with the digit 0"),
        ('fin = "W9999"', "", "facility.fin", "missing setting"),
        ("example = true", 'example = "yes"', "facility.example", "true or false"),
        (
            'collection_type = "V"',
            'collection_type = "Z"',
            "products.easc-dose.collection_type",
            "unknown collection type 'Z'",
        ),
        (
            'description_code = "S9901"',
            'description_code = "X9901"',
            "products.easc-dose.description_code",
            "S followed by 4 digits",
        ),
        ('name = "eASC"', 'name = ""', "products.easc-dose.name", "must not be empty"),
        (
            'name = "eASC"',
            'name = "eASC"\nstorge = "x"',
            "products.easc-dose.storge",
            "unknown setting",
        ),
        ('address = ["1 Test Road"]', "address = []", "facility.address", "non-empty list"),
        (
            'statements = ["For use by the intended recipient only."]',
            "statements = [1]",
            "labels.statements",
            "item 1 must be non-empty text",
        ),
        ("[products.easc-dose]", "[products.EASC]", "products.EASC", "small letters"),
    ],
)
def test_broken_site_settings_name_file_and_field(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    assert old in SITE_TOML
    path = write(tmp_path, SITE_TOML.replace(old, new, 1))
    with pytest.raises(InvalidInput, match=reason) as info:
        load_site_settings(path)
    assert info.value.field == f"{path}: {key}"
    assert str(path) in str(info.value)


def test_broken_toml_syntax_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, SITE_TOML.replace('fin = "W9999"', "fin = W9999"))
    with pytest.raises(InvalidInput, match="not valid TOML.*line 4") as info:
        load_site_settings(path)
    assert str(path) in str(info.value)


def test_missing_table_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, SITE_TOML.split("[labels]")[0])
    with pytest.raises(InvalidInput, match="missing table") as info:
        load_site_settings(path)
    assert info.value.field == f"{path}: labels"
    with pytest.raises(InvalidInput, match="not found"):
        load_site_settings(tmp_path / "absent.toml")


# --- purity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["cellbatch.isbt128", "cellbatch.site"])
def test_import_pulls_in_no_database_ui_or_pdf_library(module: str) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import {module}
        heavy = ("reportlab", "sqlalchemy", "sqlmodel", "alembic", "textual", "typer", "pint")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
        print(",".join(loaded))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    assert result.stdout.strip() == ""


def test_public_names_have_docstrings() -> None:
    for name in isbt128.__all__:
        obj = getattr(isbt128, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, name


def test_far_future_expiry_round_trips() -> None:
    moment = datetime(2999, 12, 31, 23, 59)
    assert parse_expiry(expiry_data_structure(moment)) == moment
    assert parse_expiry(expiry_data_structure(moment - timedelta(days=365))) == moment - timedelta(
        days=365
    )
