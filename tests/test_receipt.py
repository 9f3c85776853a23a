"""Receipt on the ward (issue 12, point 3): once, by the bag's holder or the clinic; the
temperature in transit from the logger packed at the issue (or one reading) checked against
the transport range; an excursion holds the bag with its deviation; a bag not received says
NO MATCH at the bedside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from cellbatch.db.tables import BagCustody, Batch, Deviation
from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.services.commands.custody import custody_chain, issue_bag, receive_bag
from cellbatch.services.queries.holds import holds_on
from tests.test_bedside import check, label_scans, last_id, user, ward  # noqa: F401

GMP30 = pytest.mark.requirement("GMP-30")
GMP29 = pytest.mark.requirement("GMP-29")


def issue(db, logger: str | None = "TL-0042", hours_ago: float = 2) -> datetime:
    """Issue EASC-D001's bag to clin1 and date the issue ``hours_ago`` (the transport)."""
    issue_bag(db, user(db, "tech1"), "clin1", "demo-clin1-pass", label_scans(db),
              container="validated shipper 15-25 °C no. 4", logger=logger)  # fmt: skip
    issued = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
    dose = select(Batch.id).where(Batch.code == "EASC-D001").scalar_subquery()
    with db.session() as session:
        session.execute(update(BagCustody).where(BagCustody.batch_id == dose).values(at=issued))
        session.commit()
    return issued


def logger_file(tmp_path: Path, issued: datetime, temps: list[float], unit: str = "degC") -> Path:
    """Readings every 15 min from the issue, one before it (the logger started in the cleanroom)."""
    rows = [f"{(issued - timedelta(minutes=10)).isoformat()},30.0"]
    rows += [
        f"{(issued + timedelta(minutes=15 * (i + 1))).strftime('%Y-%m-%dT%H:%M:%SZ')},{t}"
        for i, t in enumerate(temps)
    ]
    path = tmp_path / "TL-0042.csv"
    path.write_text(f"# logger TL-0042\ntime,temperature [{unit}]\n" + "\n".join(rows) + "\n")
    return path


def receive(db, path: Path | None = None, who: str = "clin1", **extra):
    return receive_bag(db, user(db, who), label_scans(db), condition="intact, sealed",
                       logger_file=path, **extra)  # fmt: skip


def steps(db) -> list[str]:
    return [s.kind for s in custody_chain(db, "EASC-D001")]


@GMP30
def test_received_with_its_logger_in_range_then_matches_at_the_bedside(ward, tmp_path):  # noqa: F811
    issued = issue(ward)
    assert "the bag has not been received on the ward" in check(ward).text()
    ref = f"C{last_id(ward, BagCustody) + 1}"  # after the demo's and the issue
    receipt = receive(ward, logger_file(tmp_path, issued, [20.0, 18.2, 22.8, 19.5]))
    # the reading before the issue (30 °C, before packing) is not part of the transport: said
    assert receipt.text() == (
        f"EASC-D001 bag 1 received ({ref}): 4 readings 18.2–22.8 °C, within 15–25 °C; not "
        "counted: 1 reading before the issue"
    ), receipt.text()
    assert receipt.hold is None and not holds_on_batch(ward)
    (_, received) = custody_chain(ward, "EASC-D001")
    assert (received.kind, received.handed_over_by, received.taken_by) == (
        "receipt", "clin1", "clin1",
    )  # fmt: skip
    assert received.condition == "intact, sealed" and received.logger_id == "TL-0042"
    with pytest.raises(RuleViolation, match="received already"):
        receive(ward, logger_file(tmp_path, issued, [20.0]))
    result = check(ward)
    assert result.match, result.text()
    from cellbatch.services.queries.review import review

    received_line = review(ward, "EASC-D001").clinical_use.lines()[1]
    assert "in transit (logger TL-0042): 4 readings from 18.2 °C to 22.8 °C" in received_line
    assert received_line.endswith("; within 15–25 °C"), received_line


@GMP29
@GMP30
def test_an_excursion_in_transit_holds_the_bag_with_its_deviation(ward, tmp_path, cli):  # noqa: F811
    issued = issue(ward)
    ref = f"C{last_id(ward, BagCustody) + 1}"
    path = logger_file(tmp_path, issued, [20.0, 26.5, 29.0, 21.0], unit="°C")
    scans = [a for s in label_scans(ward) for a in ("--scan", s)]
    r = cli("--db", ward.url, "custody", "receive", *scans, "--condition", "intact",
            "--logger-file", str(path), user="clin1")  # fmt: skip
    assert r.code == 0, r.err
    assert "EXCURSION: 2 of 4 reading(s) outside 15–25 °C" in r.out and "worst 29 °C" in r.out
    assert "ON HOLD H1" in r.out, r.out
    (hold,) = holds_on_batch(ward)
    assert hold.cause == "transport" and f"({ref})" in hold.reason
    with ward.session() as session:
        titles = [d.title for d in session.execute(select(Deviation)).scalars()]
    assert any("temperature excursion in transit" in t for t in titles), titles
    verdict = check(ward)
    assert not verdict.match and "ON HOLD" in verdict.text()
    assert "not been received" not in verdict.text()
    r = cli("--db", ward.url, "custody", "show", "EASC-D001", user="qa1")
    assert "receipt: clin1 → clin1, container intact" in r.out
    assert "logger TL-0042: 4 readings 20–29 °C" in r.out and "EXCURSION" in r.out


def holds_on_batch(db):
    from cellbatch.services.batch_access import find_batch

    with db.session() as session:
        batch = find_batch(session, "EASC-D001")
        return holds_on(session, [batch.id]).get(batch.id, [])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no file"),
        ("time,temperature [kg]\n2026-12-02T10:00:00Z,5\n", "line 1: the header's unit 'kg'"),
        ("time,temp\n2026-12-02T10:00:00Z,5\n", "line 1: expected the header"),
        ("time,temperature [degC]\n{t},five\n", "line 2, column 22: expected a number in degC"),
        ("time,temperature [degC]\n{t},2_0\n", "line 2, column 22: expected a number in degC"),
        (
            "time,temperature [degC]\n2026-12-02 10:00,5\n",
            "line 2, column 1: expected an ISO 8601 time",
        ),
        ("time,temperature [degC]\n{t},5,6\n", "line 2: expected 'time,temperature'"),
        ("time,temperature [degC]\n", "holds no readings"),
        ("time,temperature [degC]\n2020-01-01T10:00:00Z,5\n", "no reading between the issue"),
        (
            "time,temperature [degC]\n{t},5\n2020-01-01T10:00:00Z,5\n",
            "line 3: the readings are not",
        ),
    ],
)
def test_a_bad_readings_file_is_refused_naming_the_option_and_changes_nothing(
    ward, tmp_path, cli, content, expected,  # noqa: F811
):  # fmt: skip
    issued = issue(ward)
    path = tmp_path / "readings.csv"
    if content is not None:
        when = (issued + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        path.write_text(content.replace("{t}", when))
    scans = [a for s in label_scans(ward) for a in ("--scan", s)]
    r = cli("--db", ward.url, "custody", "receive", *scans, "--condition", "intact",
            "--logger-file", str(path), user="clin1")  # fmt: skip
    assert r.code not in (0, 70) and "--logger-file" in r.err and expected in r.err, r.err
    assert "Traceback" not in r.err
    assert steps(ward) == ["issue"] and not holds_on_batch(ward)


def test_who_receives_what_once_and_with_which_temperature(ward, tmp_path):  # noqa: F811
    with pytest.raises(RuleViolation, match="not issued yet: not received"):
        receive(ward, temperature="20 degC")
    issued = issue(ward, logger=None)
    with pytest.raises(PermissionDenied, match="held by clin1: only they or the clinic"):
        receive(ward, who="tech2", temperature="20 degC")
    with pytest.raises(InvalidInput, match="--temperature.*no logger travelled"):
        receive(ward)
    with pytest.raises(InvalidInput, match="--logger-file.*no logger was recorded"):
        receive(ward, logger_file(tmp_path, issued, [20.0]))
    with pytest.raises(InvalidInput, match="--condition"):
        receive_bag(ward, user(ward, "clin1"), label_scans(ward), condition=" ",
                    temperature="20 degC")  # fmt: skip
    assert steps(ward) == ["issue"]
    # a single reading on arrival, out of range: received, and held
    receipt = receive(ward, temperature="30 degC")
    assert receipt.excursion == "reading on arrival 30 °C, outside 15–25 °C" and receipt.hold


def test_a_logger_that_travelled_needs_its_file(ward, tmp_path):  # noqa: F811
    issued = issue(ward)
    with pytest.raises(InvalidInput, match="--logger-file.*logger TL-0042 travelled"):
        receive(ward, temperature="20 degC")
    with pytest.raises(InvalidInput, match="--temperature.*not one reading"):
        receive(ward, logger_file(tmp_path, issued, [20.0]), temperature="20 degC")
    assert steps(ward) == ["issue"]


def test_the_receipt_reads_as_one_line_in_the_record_and_review(ward, tmp_path):  # noqa: F811
    from cellbatch.services.queries.review import review

    issue(ward, logger=None)
    ref = f"C{last_id(ward, BagCustody) + 1}"
    receive(ward, temperature="20 degC")
    lines = review(ward, "EASC-D001").clinical_use.lines()
    issued, received = lines[:2]
    assert "Issued by Tomás Herrera (tech1) to Clara Nilsen (clin1)" in issued
    assert received.startswith(f"{ref} Received on the ward by Clara Nilsen (clin1) from Clara")
    assert "container on arrival: intact, sealed" in received
    assert "temperature on arrival 20 °C" in received and "within 15–25 °C" in received


@pytest.mark.requirement("GMP-32")
def test_race_two_receipts_of_one_bag_one_wins(ward):  # noqa: F811
    """Two clinic users scan the same bag at once (real processes): one receipt, one refusal."""
    from tests.races import one_wins, race

    issue(ward, logger=None)

    def receiver(name: str):
        def prepare(db):
            who, scans = user(db, name), label_scans(db)
            return lambda: receive_bag(db, who, scans, condition="intact",
                                       temperature="20 degC").ref  # fmt: skip

        return prepare

    one_wins(race(ward.url, [receiver("clin1"), receiver("clin2")]), "is received already")
    assert steps(ward) == ["issue", "receipt"]


@pytest.mark.requirement("GMP-32")
def test_one_issue_and_one_receipt_per_bag_are_held_by_the_database(ward):  # noqa: F811
    """Rows written past the services' checks are refused by the partial unique indexes."""
    from sqlalchemy.exc import IntegrityError

    issue(ward, logger=None)
    receive(ward, temperature="20 degC")
    with ward.session() as session:
        rows = list(session.execute(select(BagCustody).order_by(BagCustody.id)).scalars())
    for row in rows:
        again = {c.name: getattr(row, c.name) for c in row.__table__.columns} | {"id": None}
        with ward.session() as session, pytest.raises(IntegrityError):
            session.add(BagCustody(**again))
            session.flush()
            pytest.fail(f"the database took a second {row.kind}")
    with ward.session() as session:  # a hand-over may repeat: it is not indexed
        again = {c.name: getattr(rows[0], c.name) for c in rows[0].__table__.columns}
        session.add(BagCustody(**again | {"id": None, "kind": "hand-over"}))
        session.flush()


@GMP30
@pytest.mark.parametrize(
    ("number", "column"),
    [
        ("2_0", 22), ("nan", 22), ("inf", 22), ("-inf", 22), (" 1e1", 23), ("1e1", 22),
        ("1E+1", 22), ("20.", 22), (".5", 22), ("0x14", 22), ("٢٠", 22), ("+-5", 22),
        ("5 5", 22), ("Infinity", 22), ("1.5.2", 22), ("", 22), ("\u22125", 22),
    ],
)  # fmt: skip
def test_a_logger_files_number_is_a_plain_decimal_or_refused_naming_line_and_column(
    tmp_path, number, column
):
    from cellbatch.services.queries.logger_file import read_logger_file

    path = tmp_path / "readings.csv"
    path.write_text(
        f"time,temperature [degC]\n2026-12-02T10:30:00Z,20\n2026-12-02T10:31:00Z,{number}\n"
    )
    with pytest.raises(InvalidInput) as refused:
        read_logger_file(path)
    assert refused.value.field == "--logger-file"
    assert f"line 3, column {column}: expected a number in degC" in refused.value.message
    assert "optional sign, digits, an optional decimal point and digits" in refused.value.message


@GMP30
@pytest.mark.parametrize(
    ("number", "celsius"),
    [("20", 20.0), ("-3", -3.0), ("+4.25", 4.25), (" 21.5 ", 21.5), ("0.0", 0.0), ("007", 7.0)],
)
def test_a_logger_files_plain_decimals_are_read(tmp_path, number, celsius):
    from cellbatch.services.queries.logger_file import read_logger_file

    path = tmp_path / "readings.csv"
    path.write_text(f"time,temperature [degC]\n2026-12-02T10:30:00Z,{number}\n")
    assert [r.celsius for r in read_logger_file(path)] == [celsius]


@GMP30
@pytest.mark.parametrize("separator", ["\u2028", "\x85", "\x1c", "\x1e"])
def test_a_logger_file_line_ends_at_a_line_feed_only(tmp_path, separator):
    # str.splitlines() also breaks at these: one physical row read as two readings, and a
    # refusal naming a line the file does not have
    from cellbatch.services.queries.logger_file import read_logger_file

    path = tmp_path / "readings.csv"
    path.write_text(
        "time,temperature [degC]\n"
        f"2026-12-02T09:30:00Z,20{separator}2026-12-02T09:31:00Z,20\n"
        "2026-12-02T09:32:00Z,x\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        read_logger_file(path)
    assert refused.value.message.startswith("line 2"), refused.value.message
    path.write_text(
        "time,temperature [degC]\r\n2026-12-02T09:30:00Z,20\r\n2026-12-02T09:32:00Z,x\r\n"
    )
    with pytest.raises(InvalidInput) as refused:
        read_logger_file(path)
    assert refused.value.message.startswith("line 3, column 22"), refused.value.message


@GMP30
@pytest.mark.parametrize("sign", ["", "-", "+"])
def test_a_logger_number_too_large_is_said_so_not_called_inf(tmp_path, sign):
    from cellbatch.services.queries.logger_file import read_logger_file

    path = tmp_path / "readings.csv"
    path.write_text(f"time,temperature [degC]\n2026-12-02T09:30:00Z,{sign}{'9' * 400}\n")
    with pytest.raises(InvalidInput) as refused:
        read_logger_file(path)
    message = refused.value.message
    assert message.startswith("line 2, column 22: the number (") and "too large" in message
    assert "inf" not in message.replace("information", "")
