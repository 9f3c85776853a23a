"""Trusted time (GMP-34): records take the trusted clock's time, and no write is recorded while
the clocks disagree beyond the limit (this computer's, the PostgreSQL server's, an NTP source's).

This computer's clock is set ahead or behind through the seam ``trusted_time.host_time``; the
NTP source is a real SNTP server on loopback (a thread answering UDP), whose clock is set
ahead or behind, or silent.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from cellbatch.db.tables import AuditEntry, User
from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.trusted_time import (
    MAX_CLOCK_SKEW_SECONDS,
    ClockSkewed,
    TimeSourceUnavailable,
    skew_limit,
)
from cellbatch.services import trusted_time
from cellbatch.services.auth import authenticate
from cellbatch.services.commands.users import add_user
from cellbatch.services.ntp import NTP_EPOCH_OFFSET, NtpFailed, clock_offset, split_address
from cellbatch.services.unit_of_work import UnitOfWork
from tests.conftest import ADMIN_PASSWORD

GMP34 = pytest.mark.requirement("GMP-34")


class FakeNtpServer:
    """An SNTP server on 127.0.0.1 whose clock is ``offset`` seconds off (None: silent)."""

    def __init__(self) -> None:
        self.offset: float | None = 0.0
        self.stratum = 2
        self.requests = 0
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.udp.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _stamp(self) -> bytes:
        ntp = time.time() + (self.offset or 0.0) + NTP_EPOCH_OFFSET
        return struct.pack("!II", int(ntp), int((ntp % 1) * 2**32))

    def _serve(self) -> None:
        while True:
            try:
                request, client = self.udp.recvfrom(512)
            except OSError:
                return  # closed
            self.requests += 1
            if self.offset is None:
                continue
            received = self._stamp()
            answer = bytes([0x24, self.stratum]) + bytes(22) + request[40:48] + received
            self.udp.sendto(answer + self._stamp(), client)

    def close(self) -> None:
        self.udp.close()


@pytest.fixture(autouse=True)
def _fresh_ntp_readings():
    trusted_time._readings.clear()
    yield
    trusted_time._readings.clear()


@pytest.fixture
def ntp(monkeypatch):
    server = FakeNtpServer()
    monkeypatch.setenv("CELLBATCH_NTP_SERVER", server.address)
    yield server
    server.close()


def host_clock_off(monkeypatch, seconds: float) -> None:
    """Set this computer's clock ``seconds`` ahead (negative: behind)."""
    monkeypatch.setattr(trusted_time, "host_time", lambda: time.time() + seconds)


def write(db) -> None:
    """One audited write: the admin adds a user."""
    admin = authenticate(db, "admin", ADMIN_PASSWORD)
    with db.session() as session:
        number = session.execute(select(func.count()).select_from(User)).scalar_one()
    add_user(
        db, admin, f"tech{number}", f"Tess Tech {number}", "technician", password="tidal-ledger-58"
    )


def counts(db) -> tuple[int, int]:
    """Users and audit entries, to show a refused write changed nothing."""
    with db.session() as session:
        return (
            session.execute(select(func.count()).select_from(User)).scalar_one(),
            session.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
        )


def last_entry(db) -> AuditEntry:
    with db.session() as session:
        return session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()


@GMP34
def test_a_write_takes_the_database_servers_time_on_postgresql_and_the_hosts_on_sqlite(
    admin_db, monkeypatch
):
    host_clock_off(monkeypatch, 20)  # within the limit: accepted
    with UnitOfWork(admin_db, None) as uow:
        now, source = uow.now, uow.time_source
    real = datetime.now(UTC).timestamp()
    if admin_db.backend == "postgresql":
        assert abs(now.timestamp() - real) < 5  # the server's clock, not this computer's
        assert source.clock == "db-server"
        assert source.note().startswith("db-server; host +")
        assert " s vs db-server" in source.note()
        (check,) = source.checks
        assert 19 < check.seconds < 21
    else:
        assert abs(now.timestamp() - (real + 20)) < 5  # SQLite has only this computer's clock
        assert source.note().startswith("host; unchecked")
    write(admin_db)
    assert abs(last_entry(admin_db).at.timestamp() - now.timestamp()) < 10


@GMP34
def test_on_postgresql_a_computer_whose_clock_is_off_records_nothing(admin_db, monkeypatch):
    before = counts(admin_db)
    host_clock_off(monkeypatch, -95)
    if admin_db.backend == "sqlite":
        write(admin_db)  # no other clock to compare with, unless NTP is configured (below)
        assert counts(admin_db) != before
        return
    with pytest.raises(ClockSkewed) as refused:
        write(admin_db)
    assert str(refused.value).startswith(
        "this computer's clock is 95.0 s behind the database server's clock "
        f"(at most {MAX_CLOCK_SKEW_SECONDS:g} s allowed): nothing was recorded"
    )
    assert counts(admin_db) == before


@GMP34
def test_an_ntp_source_vouches_for_the_time_or_refuses_it(admin_db, ntp, monkeypatch):
    write(admin_db)
    source_note = trusted_time.clock_report(admin_db).source.note()
    assert "host +0.0" in source_note or "host -0.0" in source_note
    assert f"vs ntp:{ntp.address}" in source_note
    before = counts(admin_db)

    ntp.offset = 120.0  # the NTP source says this computer (and the server) are 2 min behind
    trusted_time._readings.clear()
    with pytest.raises(ClockSkewed) as refused:
        write(admin_db)
    assert f"behind the NTP source {ntp.address}" in str(refused.value)
    assert counts(admin_db) == before

    ntp.offset = None  # silent: the time cannot be checked
    trusted_time._readings.clear()
    with pytest.raises(TimeSourceUnavailable) as refused:
        write(admin_db)
    assert f"no NTP source answered ({ntp.address} did not answer" in str(refused.value)
    assert counts(admin_db) == before


@GMP34
def test_an_ntp_measurement_is_reused_until_this_computers_clock_is_set(db, ntp, monkeypatch):
    first = trusted_time.checked_ntp()
    assert trusted_time.checked_ntp() is first and ntp.requests == 1
    host_clock_off(monkeypatch, 45)  # the clock was set since: measure again
    second = trusted_time.checked_ntp()
    assert second is not first and ntp.requests == 2
    assert -46 < second.offset < -44
    with pytest.raises(ClockSkewed):
        with UnitOfWork(db, None):
            pass


@GMP34
def test_the_environment_may_tighten_the_limit_never_loosen_it(admin_db, monkeypatch, cli):
    for wrong in ("100000", "abc", "5s", "-5", "0", "nan"):
        monkeypatch.setenv("CELLBATCH_MAX_CLOCK_SKEW_SECONDS", wrong)
        with pytest.raises(InvalidInput, match="CELLBATCH_MAX_CLOCK_SKEW_SECONDS: expected"):
            write(admin_db)  # refused, naming the variable: never silently the 30 s limit
        shown = cli("--db", admin_db.url, "clock")
        assert shown.code == 1 and "CELLBATCH_MAX_CLOCK_SKEW_SECONDS: expected" in shown.err
    monkeypatch.delenv("CELLBATCH_MAX_CLOCK_SKEW_SECONDS")
    assert skew_limit(100000) == MAX_CLOCK_SKEW_SECONDS
    assert skew_limit(0) == skew_limit(-1) == MAX_CLOCK_SKEW_SECONDS == skew_limit(None)
    assert skew_limit(5) == 5
    if admin_db.backend == "postgresql":
        host_clock_off(monkeypatch, 60)
        with pytest.raises(ClockSkewed):
            write(admin_db)
        host_clock_off(monkeypatch, 8)
        write(admin_db)
        monkeypatch.setenv("CELLBATCH_MAX_CLOCK_SKEW_SECONDS", "5")
        with pytest.raises(ClockSkewed) as refused:
            write(admin_db)
        assert "(at most 5 s allowed)" in str(refused.value)


@GMP34
def test_cellbatch_clock_says_where_the_time_comes_from_and_whether_writes_are_taken(
    admin_db, ntp, cli
):
    url = admin_db.url
    shown = cli("--db", url, "clock")
    assert shown.code == 0, shown.err
    clock = "db-server" if admin_db.backend == "postgresql" else "host"
    assert shown.out.startswith(f"time source: {clock}; ")
    assert f"vs ntp:{ntp.address}" in shown.out
    assert f"clocks agree within {MAX_CLOCK_SKEW_SECONDS:g} s: writes are recorded" in shown.out
    ntp.offset = -300.0
    trusted_time._readings.clear()
    shown = cli("--db", url, "clock")
    assert shown.code == 1
    assert shown.err.startswith("RECORDING REFUSED: this computer's clock is 300.0 s ahead of")


def test_the_sntp_client_checks_what_it_is_given_and_what_answers(ntp):
    assert split_address("ntp.example") == ("ntp.example", 123)
    assert split_address("[::1]:1234") == ("::1", 1234)
    assert split_address("10.0.0.1:1234") == ("10.0.0.1", 1234)
    for bad in ("", ":123", "host:port", "host:0", "host:70000"):
        with pytest.raises(NtpFailed):
            split_address(bad)
    ntp.offset = 3.25
    assert 3.2 < clock_offset(ntp.address, now=time.time) < 3.3
    ntp.stratum = 0  # kiss-of-death / unsynchronised
    with pytest.raises(NtpFailed, match="not a synchronised NTP server"):
        clock_offset(ntp.address, now=time.time)
    ntp.offset = None
    with pytest.raises(NtpFailed, match="did not answer within 0.2 s"):
        clock_offset(ntp.address, now=time.time, timeout=0.2)


@GMP34
def test_a_told_time_dates_the_records_only_and_stays_in_its_thread(admin_db, cli):
    """The demo's and test fixtures' told time (told_time): records carry it, the audit entry
    keeps the trusted clock's time (the trail stays in order), and it reaches no other thread
    nor any write after the block."""
    from datetime import timedelta

    told = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    with trusted_time.told_time(told):
        write(admin_db)
        with UnitOfWork(admin_db, None) as uow:
            assert uow.now == told
            assert abs(uow.written_at - datetime.now(UTC)) < timedelta(seconds=10)
        seen = []
        other = threading.Thread(target=lambda: seen.append(trusted_time.told()))
        other.start()
        other.join()
        assert seen == [None]
    with admin_db.session() as session:
        user = session.execute(select(User).order_by(User.id.desc()).limit(1)).scalar_one()
    assert user.created_at.replace(tzinfo=UTC) == told
    assert abs(last_entry(admin_db).at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(
        seconds=10
    )
    assert trusted_time.told() is None
    with UnitOfWork(admin_db, None) as uow:
        assert abs(uow.now - datetime.now(UTC)) < timedelta(seconds=10)
    verified = cli("--db", admin_db.url, "audit", "verify")
    assert verified.code == 0, verified.err
