"""Several terminals writing at once: every write lands, the audit chain stays intact."""

from __future__ import annotations

import itertools
import re
import shutil
import threading
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from cellbatch.db.tables import (
    Bag,
    Batch,
    Correction,
    DoseAttempt,
    QcResult,
    ReleaseDecision,
    StepEntry,
    User,
    Vial,
)
from cellbatch.domain.errors import CellbatchError
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import batches, steps
from cellbatch.services.commands.corrections import correct
from cellbatch.services.commands.donors import add_material
from cellbatch.services.commands.qc import record_qc
from cellbatch.services.commands.release import decide
from cellbatch.services.commands.users import add_user
from cellbatch.services.database import open_database
from cellbatch.services.queries.audit import verify_trail
from cellbatch.services.queries.donors import list_materials
from cellbatch.services.queries.users import list_users
from tests.conftest import ADMIN_PASSWORD, BACKENDS, _pg_admin, _pg_url
from tests.lab import demo_recipient
from tests.races import CLEAN_REFUSALS, ROUNDS, Outcome, Racer, all_win, cli, one_wins, race


def test_concurrent_writers_serialise_on_the_audit_chain(admin_db):
    admin = authenticate(admin_db, "admin", ADMIN_PASSWORD)
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    tech = authenticate(admin_db, "tech1", "tech1-password")
    errors: list[BaseException] = []

    def terminal(n: int) -> None:
        try:
            for i in range(8):
                add_material(
                    admin_db,
                    tech,
                    f"LOT-{n}-{i}",
                    kind="medium",
                    name="alpha-MEM",
                    expires=date(2030, 1, 1),
                )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=terminal, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(list_materials(admin_db)) == 32
    report = verify_trail(admin_db)
    assert report.ok, report.problems
    assert report.entries_checked == 4 + 32  # the default policy, the seal, the admin, tech1


# ----------------------------------------------------------------------------- races
# Real processes released at a barrier (tests/races.py), on SQLite and PostgreSQL: every
# uniqueness and inventory rule holds, and whoever loses a race gets a clean refusal.

GMP32 = pytest.mark.requirement("GMP-32")


@pytest.fixture(params=BACKENDS)
def fresh(request, _templates, _demo_templates, tmp_path, monkeypatch):
    """A factory of fresh databases of one backend: ``fresh("demo")`` or ``fresh("empty")``.

    Each has its own anchor log (a demo's starts as a copy of the demo's own): clones of one
    template are one audit trail to the anchors.
    """
    made: list[str] = []
    counter = iter(range(10_000))

    def make(kind: str) -> str:
        n = next(counter)
        log = tmp_path / f"anchors-{n}"
        monkeypatch.setenv("CELLBATCH_ANCHOR_LOG", str(log))
        anchors = _demo_templates[f"{request.param}.anchors"]
        if kind == "demo" and anchors.exists():  # the trail records the demo's anchors
            shutil.copy2(anchors, log)
        if request.param == "sqlite":
            path = tmp_path / f"{kind}-{n}.db"
            if kind == "demo":
                shutil.copy(_demo_templates["sqlite"], path)
            return f"sqlite:///{path}"
        name = f"cb_race_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{_demo_templates["postgresql"]}"' if kind == "demo" else ""
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        made.append(name)
        return _pg_url(name)

    yield make
    if made:
        with _pg_admin() as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as(user: str):
    """Log ``user`` (a demo user) in on the racer's own connection."""
    from cellbatch.services.demo import demo_password

    return lambda db: authenticate(db, user, demo_password(user))


def _dose(db, tech, code: str, recipient: str, infusion: int = 1) -> str:
    return batches.start_dose(
        db,
        tech,
        code,
        parent="EASC-B001",
        sop_id="SOP-EASC-DOSE",
        recipient=recipient,
        weight="70 kg",
        dose="2 x 10^6 cells/kg",
        infusion=infusion,
    )


def _verified_intact(db) -> None:
    report = verify_trail(db)
    assert report.ok, report.problems


@GMP32
def test_race_two_dose_batches_for_one_recipient_and_infusion(demo_db):
    for n in range(ROUNDS):
        demo_recipient(demo_db, f"RACE-P{n:03d}")

        def starter(p: int, n: int = n):
            def prepare(db):
                tech = _as(f"tech{p}")(db)
                return lambda: _dose(db, tech, f"RACE-D{n}-{p}", f"RACE-P{n:03d}")

            return prepare

        outcomes = race(demo_db.url, [starter(1), starter(2)])
        # the loser is refused by the plan (its next infusion is now 2) or, if it read the plan
        # first, by the one-dose-per-infusion rule: a clean refusal either way, never two doses
        one_wins(
            outcomes,
            rf"recipient RACE-P{n:03d} already has dose batch RACE-D{n}-\d for infusion"
            rf"|RACE-P{n:03d}'s next planned infusion is 2",
        )
    with demo_db.session() as session:
        per_slot = session.execute(
            select(Batch.recipient_id, func.count())
            .where(Batch.recipient_id.like("RACE-P%"))
            .group_by(Batch.recipient_id, Batch.infusion_number)
        ).all()
    assert sorted(count for _r, count in per_slot) == [1] * ROUNDS
    _verified_intact(demo_db)


@GMP32
def test_race_one_batch_code_started_twice(demo_db):
    for n in range(ROUNDS):

        def starter(p: int, n: int = n):
            def prepare(db):
                tech = _as(f"tech{p}")(db)
                return lambda: batches.start_expansion(
                    db, tech, f"RACE-B{n}", lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP"
                )

            return prepare

        one_wins(race(demo_db.url, [starter(1), starter(2)]), rf"^batch RACE-B{n} exists already$")
    with demo_db.session() as session:
        codes = session.execute(select(Batch.code).where(Batch.code.like("RACE-B%"))).scalars()
        assert sorted(codes) == [f"RACE-B{n}" for n in range(ROUNDS)]
    _verified_intact(demo_db)


def _bank_ready_to_freeze(db, tech, code: str) -> str:
    """A BM-MSC bank grown P0-P2 (the SOP banks from P2), not frozen yet."""
    batches.start_expansion(db, tech, code, lot_number="TL-BM-0001", sop_id="SOP-BMMSC-EXP")
    for vessel, n, seeded, total in (
        ("CS1", 1, "1.0e7 cells", "2.6e7 cells"),
        ("CS5", 2, "1.9e7 cells", "1.5e8 cells"),
        ("CS5", 4, "5.0e7 cells", "4.4e8 cells"),
    ):
        steps.seed(
            db,
            tech,
            code,
            vessel=vessel,
            vessels=n,
            cells=seeded,
            materials=["AMEM-24K118", "HPL-2611-07", "TRYPLE-3320"],
        )
        steps.harvest(
            db,
            tech,
            code,
            total_cells=total,
            viability="94 %",
            materials=["TRYPLE-3320", "DPBS-88812"],
        )
    return code


@GMP32
def test_race_two_banks_frozen_into_the_same_positions(demo_db):
    tech = _as("tech1")(demo_db)
    ready = [_bank_ready_to_freeze(demo_db, tech, f"RACE-F{n}") for n in range(2)]
    for n in range(ROUNDS):

        def freezer(code: str, p: int, n: int = n):
            def prepare(db):
                tech = _as(f"tech{p}")(db)
                return lambda: steps.freeze(
                    db,
                    tech,
                    code,
                    vials=2,
                    cells_per_vial="25 x 10^6 cells",
                    volume_per_vial="1.0 mL",
                    cryoprotectant="CS10-5561",
                    location=f"LN2 tank 9 / box {n}",
                )

            return prepare

        outcomes = race(demo_db.url, [freezer(ready[0], 1), freezer(ready[1], 2)])
        one_wins(outcomes, rf"LN2 tank 9 / box {n} / position 1 already holds a vial in stock")
        ready = [ready[outcomes[0].ok], _bank_ready_to_freeze(demo_db, tech, f"RACE-F{n + 2}")]
    with demo_db.session() as session:
        stocked = session.execute(
            select(Vial.location, func.count())
            .where(Vial.thaw_entry_id.is_(None))
            .group_by(Vial.location)
        ).all()
    assert stocked and all(count == 1 for _location, count in stocked), stocked
    assert sum(1 for loc, _c in stocked if loc.startswith("LN2 tank 9")) == 2 * ROUNDS
    _verified_intact(demo_db)


@GMP32
def test_race_qc_results_on_one_batch_all_land_in_time_order(demo_db):
    """Point 4: the clock is read under the lock, so no result lands 'before' the one it retests."""
    for _ in range(ROUNDS):

        def recorder(user: str):
            def prepare(db):
                actor = _as(user)(db)
                return lambda: record_qc(
                    db, actor, "FUC-D001", test="viability-in-process", value="83 %"
                )

            return prepare

        all_win(race(demo_db.url, [recorder(u) for u in ("tech1", "tech2", "sup1", "tech1")]))
    with demo_db.session() as session:
        results = session.execute(
            select(QcResult).where(QcResult.qc_id == "viability-in-process").order_by(QcResult.id)
        ).scalars()
        times = [r.performed_at for r in results]
    assert times == sorted(times)
    _verified_intact(demo_db)  # also: no audit entry is timed before the one it follows


@GMP32
def test_a_write_waits_for_the_write_lock_from_its_start_then_is_refused_cleanly(db_url):
    """The lock is taken before anything is read, so a writer that merely began holds it."""
    from cellbatch.db.database import Database, DatabaseUnavailable
    from cellbatch.services.commands.users import create_first_admin

    holder = Database(db_url)
    waiter = Database(db_url, lock_timeout=0.3)
    session = holder.write_session()  # began a unit of work, read and wrote nothing yet
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            create_first_admin(waiter, "admin", "Ada Admin", ADMIN_PASSWORD)
        assert str(refused.value).startswith(
            "the database is busy: another terminal's write held it for more than "
        )
        assert str(refused.value).endswith("nothing was saved, try again")
    finally:
        session.close()
    create_first_admin(waiter, "admin", "Ada Admin", ADMIN_PASSWORD)
    assert [u.username for u in list_users(waiter)] == ["admin"]
    holder.dispose()
    waiter.dispose()


def test_verify_reports_an_audit_entry_timed_before_the_one_it_follows(admin_db, monkeypatch):
    from cellbatch.services import trusted_time

    admin = authenticate(admin_db, "admin", ADMIN_PASSWORD)
    add_user(admin_db, admin, "tech1", "Tess Tech", "technician", password="tech1-password")
    # every clock set back an hour together (so they still agree and the write is taken)
    server, host = trusted_time.server_now, trusted_time.host_time
    monkeypatch.setattr(trusted_time, "server_now", lambda s: server(s) - timedelta(hours=1))
    monkeypatch.setattr(trusted_time, "host_time", lambda: host() - 3600)
    add_user(admin_db, admin, "tech2", "Tod Tech", "technician", password="tech2-password")
    problems = verify_trail(admin_db).problems
    assert len(problems) == 1, problems
    assert re.fullmatch(
        r"audit entry #5 is timed \S+ \S+ UTC, 35\d\d\.\d{3} s before the entry it follows: "
        r"the trail's times must never go back .*",
        problems[0],
    )


@GMP32
def test_race_two_inits_on_an_empty_database(fresh):
    for _ in range(ROUNDS):
        url = fresh("empty")
        init = cli(
            "--db", url, "init", "--admin", "admin", "--name", "Ada Admin", "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",
        )  # fmt: skip
        runs = all_win(race(url, [lambda _db, go=init: go] * 2))
        assert all(run.code in (0, 2, 4) for run in runs), runs
        assert sum("created admin admin" in run.out for run in runs) == 1, runs
        for run in runs:
            if run.code:
                assert "the database already has users" in run.err, run
        db = open_database(url)
        assert [u.username for u in list_users(db)] == ["admin"]
        _verified_intact(db)
        db.dispose()


@GMP32
@pytest.mark.parametrize("decisions", [("release", "release"), ("release", "reject")])
def test_race_two_decisions_on_one_batch(fresh, decisions):
    from cellbatch.services.demo import demo_password

    for _ in range(ROUNDS):
        url = fresh("demo")

        def decider(decision: str):
            def prepare(db):
                return lambda: decide(
                    db,
                    "qa1",
                    "EASC-D001",
                    decision,
                    "records reviewed",
                    password=demo_password("qa1"),
                )

            return prepare

        outcomes = race(url, [decider(d) for d in decisions])
        status = one_wins(outcomes, r"^batch EASC-D001 is (released|rejected) and locked").value
        after = open_database(url)
        with after.session() as session:
            batch = session.execute(select(Batch).where(Batch.code == "EASC-D001")).scalar_one()
            made = session.execute(
                select(ReleaseDecision.decision).where(ReleaseDecision.batch_id == batch.id)
            ).scalars()
            assert list(made) == [decisions[outcomes[1].ok]]
            assert batch.status == status
        _verified_intact(after)
        after.dispose()


def _thawer(code: str, user: str, vials: int, numbers: list[int] | None = None) -> Racer:
    def prepare(db):
        tech = _as(user)(db)
        return lambda: steps.thaw(
            db,
            tech,
            code,
            vials=vials,
            vial_numbers=numbers,
            total_cells="1.9e8 cells",
            viability="88 %",
            materials=["DPBS-88812"],
        )

    return prepare


def _stock(db) -> list[int]:
    with db.session() as session:
        bank = session.execute(select(Batch.id).where(Batch.code == "EASC-B001")).scalar_one()
        return list(
            session.execute(
                select(Vial.number)
                .where(Vial.batch_id == bank, Vial.thaw_entry_id.is_(None))
                .order_by(Vial.number)
            ).scalars()
        )


def _thawed_once(db) -> None:
    """Every vial thawed at most once: the thaw entries name disjoint vials of the bank."""
    with db.session() as session:
        thaws = session.execute(select(StepEntry).where(StepEntry.kind == "thaw")).scalars()
        named = [(e.batch_id, n) for e in thaws for n in e.values["vial_numbers"]]
        parents = dict(session.execute(select(Batch.id, Batch.parent_batch_id)).all())
    per_bank = [(parents[batch_id], n) for batch_id, n in named]
    assert len(per_bank) == len(set(per_bank)), per_bank


class _ThawBank:
    """EASC-B001 of a fresh demo database, with two dose batches ready to thaw from it.

    A new database is taken when the bank runs short, so a race can run any number of rounds.
    """

    def __init__(self, fresh, tag: str) -> None:
        self.fresh, self.tag, self.n = fresh, tag, 0
        self.db = None

    def _dose(self) -> str:
        self.n += 1
        recipient = demo_recipient(self.db, f"RACE{self.tag}-P{self.n:03d}")
        return _dose(self.db, self.tech, f"RACE-{self.tag}{self.n}", recipient)

    def ready(self, vials_needed: int) -> list[str]:
        """The two dose batches to race, on a bank with at least ``vials_needed`` in stock."""
        if self.db is None or len(_stock(self.db)) < vials_needed:
            self.close()
            self.db = open_database(self.fresh("demo"))
            self.tech = _as("tech1")(self.db)
            self.batches = [self._dose(), self._dose()]
        return self.batches

    def next_round(self, outcomes: list[Outcome]) -> None:
        """The loser races again, against a new dose batch."""
        self.batches = [self.batches[outcomes[0].ok], self._dose()]

    def close(self) -> None:
        """Check the finished database: no vial thawed twice, the audit trail intact."""
        if self.db is not None:
            _thawed_once(self.db)
            _verified_intact(self.db)
            self.db.dispose()


@GMP32
def test_race_two_thaws_of_the_last_vials(fresh):
    bank = _ThawBank(fresh, "T")
    for _ in range(ROUNDS):
        ready = bank.ready(2)
        stock = _stock(bank.db)
        wanted = min(len(stock) // 2 + 1, 12)  # more than half: only one thaw can have them
        outcomes = race(
            bank.db.url, [_thawer(ready[0], "tech1", wanted), _thawer(ready[1], "tech2", wanted)]
        )
        one_wins(outcomes, rf"{wanted} vials asked for, but only {len(stock) - wanted} remain")
        assert len(_stock(bank.db)) == len(stock) - wanted
        bank.next_round(outcomes)
    bank.close()


@GMP32
def test_race_two_thaws_of_one_vial(fresh):
    bank = _ThawBank(fresh, "V")
    for _ in range(ROUNDS):
        ready = bank.ready(1)
        vial = _stock(bank.db)[0]
        outcomes = race(
            bank.db.url,
            [_thawer(ready[0], "tech1", 1, [vial]), _thawer(ready[1], "tech2", 1, [vial])],
        )
        one_wins(outcomes, rf"vial {vial} is not in stock")
        assert vial not in _stock(bank.db)
        bank.next_round(outcomes)
    bank.close()


@GMP32
def test_race_two_corrections_of_one_value(demo_db):
    with demo_db.session() as session:
        result = session.execute(
            select(QcResult).where(QcResult.qc_id == "heca452-in-process")
        ).scalar_one()
    for n in range(ROUNDS):

        def corrector(user: str, value: str):
            def prepare(db):
                actor = _as(user)(db)
                return lambda: correct(
                    db,
                    actor,
                    "FUC-D001",
                    f"Q{result.id}",
                    field="value",
                    value=value,
                    reason="transcription error",
                )

            return prepare

        low = 10 + 2 * (n % 40)  # two new values, neither the one the round before left
        outcomes = race(
            demo_db.url, [corrector("tech1", f"{low} %"), corrector("tech2", f"{low + 1} %")]
        )
        assert all(o.ok or o.error in CLEAN_REFUSALS for o in outcomes), outcomes
        assert any(o.ok for o in outcomes), outcomes
    with demo_db.session() as session:
        chain = list(
            session.execute(
                select(Correction)
                .where(Correction.entity == "qc_result", Correction.entity_id == result.id)
                .order_by(Correction.id)
            ).scalars()
        )
        now = session.get(QcResult, result.id)
    # no lost update: each correction replaces the value the one before it left
    assert float(chain[0].old_value) == 42.0
    for before, after in itertools.pairwise(chain):
        assert after.old_value == before.new_value, (before, after)
    assert float(chain[-1].new_value) == now.value_num
    _verified_intact(demo_db)


# ------------------------------------------------------------------ rules held by the database


@GMP32
def test_each_uniqueness_rule_is_held_by_the_database_itself(demo_db):
    """Rows written past every service check are refused by the database's own indexes."""
    from sqlalchemy.exc import IntegrityError

    with demo_db.session() as session:
        dose = session.execute(select(Batch).where(Batch.code == "EASC-D001")).scalar_one()
        vial = (
            session.execute(select(Vial).where(Vial.thaw_entry_id.is_(None)).order_by(Vial.id))
            .scalars()
            .first()
        )
        bag = session.execute(select(Bag).where(Bag.batch_id == dose.id)).scalar_one()
    sneaked = {
        "batch code": Batch(**{**_columns(dose), "recipient_id": "OTHER", "id": None}),
        # a dose may be made again for an infusion not given: the database holds one batch
        # per attempt (the bank's id: the attempt, not the batch, is what collides)
        "dose attempt": DoseAttempt(
            batch_id=dose.parent_batch_id,
            recipient_id=dose.recipient_id,
            infusion_number=dose.infusion_number,
            attempt=1,
        ),
        "position": Vial(**{**_columns(vial), "number": 99, "id": None}),
        "bag number": Bag(**{**_columns(bag), "product_code": "S9999V00", "id": None}),
        "user ID case": User(
            username="TECH1",
            full_name="Tess Again",
            role="technician",
            password_hash="x",
            password_changed_at=dose.started_at,
            created_at=dose.started_at,
        ),
    }
    for what, row in sneaked.items():
        with demo_db.session() as session, pytest.raises(IntegrityError):
            session.add(row)
            session.flush()
            pytest.fail(f"the database took a second {what}")
    with demo_db.session() as session, pytest.raises(IntegrityError):
        for decision in ("release", "reject"):
            session.add(
                ReleaseDecision(
                    batch_id=dose.id,
                    decision=decision,
                    reason="twice",
                    decided_at=dose.started_at,
                    decided_by=1,
                )
            )
            session.flush()


def _columns(row) -> dict:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns}


@GMP32
def test_a_write_that_reaches_a_unique_index_gets_the_same_refusal_as_the_check(
    demo_db, monkeypatch
):
    """With a service's check taken away, the index refuses with the check's own message."""
    tech = _as("tech1")(demo_db)
    _bank_ready_to_freeze(demo_db, tech, "RACE-IX")

    def start_twice():
        batches.start_expansion(
            demo_db, tech, "EASC-B001", lot_number="TL-ADI-0001", sop_id="SOP-EASC-EXP"
        )

    def second_dose():
        _dose(demo_db, tech, "RACE-IX-D", "RA-P001")

    def occupied():
        steps.freeze(
            demo_db,
            tech,
            "RACE-IX",
            vials=2,
            cells_per_vial="25 x 10^6 cells",
            volume_per_vial="1.0 mL",
            cryoprotectant="CS10-5561",
            location="LN2 tank 2 / rack 3 / box 12",
            first_position=12,
        )

    # the plan refuses a second dose for an infusion first (its next infusion is 2): taken
    # away, the dose's own slot check refuses; taken away with the attempt count, the index
    def as_typed(_session, _recipient, _sop, dose_per_kg, infusion):
        return dose_per_kg, infusion

    for write, module, before, checks in (
        (start_twice, batches, {}, {"batch_code_free": None}),
        (
            second_dose,
            batches,
            {"as_planned": as_typed},
            {"dose_slot_free": None, "dose_attempt": lambda *_args: 1},
        ),
        (occupied, steps, {}, {"positions_free": None}),
    ):
        with monkeypatch.context() as patch:
            for name, replacement in before.items():
                patch.setattr(module, name, replacement)
            with pytest.raises(CellbatchError) as by_check:
                write()
            for name, replacement in checks.items():
                patch.setattr(module, name, replacement or (lambda *_args: None))
            with pytest.raises(CellbatchError) as by_index:
                write()
        assert type(by_index.value) is type(by_check.value)
        assert str(by_index.value) == str(by_check.value)
        assert "duplicate" not in str(by_index.value) and "UNIQUE" not in str(by_index.value)
    assert str(by_check.value) == (
        "--first-position: LN2 tank 2 / rack 3 / box 12 / position 12 already holds a vial "
        "in stock; expected free positions"
    )
    _verified_intact(demo_db)
