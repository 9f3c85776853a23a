"""Segregation of duties per person, not per account (GMP-28): names compared as a reader sees
them; SOP authors never approve their own SOP; investigators never close their own deviation;
a QA officer involved in a batch neither releases nor rejects it."""

from __future__ import annotations

import shutil

import pytest

from cellbatch.domain.errors import PermissionDenied, RuleViolation
from cellbatch.domain.people import names_person, person_key
from cellbatch.services.auth import authenticate
from cellbatch.services.commands import release
from cellbatch.services.commands.deviations import close_deviation, update_deviation
from cellbatch.services.commands.sops import approve_sop, submit_sop
from cellbatch.services.commands.users import add_user
from cellbatch.services.commands.verification import verify
from cellbatch.services.demo import demo_password as pw
from cellbatch.services.queries.deviations import list_deviations
from cellbatch.services.queries.involvement import involvement_of
from cellbatch.services.queries.verification import verification_status
from cellbatch.services.unit_of_work import UnitOfWork
from tests.conftest import REPO

GMP28 = pytest.mark.requirement("GMP-28")

RA = "EASC-D001"
EB = "FUC-D001"


def who(db, user: str):
    return authenticate(db, user, pw(user))


@GMP28
@pytest.mark.parametrize(
    "alike",
    [
        "Quentin Okafor",
        "quentin okafor",
        "Quentin  Okafor",  # two spaces
        " Quentin Okafor ",
        "Quéntin Okafor",  # an accent
        "Quentin Okafоr",  # a Cyrillic о
        "QUENTIN ΟKAFOR",  # a Greek Ο
        "Ｑuentin Okafor",  # full width Q
        "Quentin\u00a0Okafor",  # no-break space
        "Quentin-Okafor",
    ],
)
def test_a_printed_name_that_reads_like_another_is_refused(demo_db, alike):
    admin = who(demo_db, "admin")
    with pytest.raises(RuleViolation, match="'qa1' already signs as"):
        add_user(demo_db, admin, "qa9", alike, "qa")


@GMP28
def test_person_keys_fold_what_a_reader_cannot_see():
    assert person_key("José  DÍAZ") == person_key("jose diaz") == "jose diaz"
    assert person_key("Аnna Вrown") == person_key("Anna Brown")  # Cyrillic А and В
    assert person_key("Łukasz Øster") == "lukasz oster"
    assert person_key("Grace Liu") != person_key("Grace Lin")
    assert names_person("Q. Okafor, Quality Assurance", "Quentin Okafor")
    assert names_person("Written by QUENTIN OKAFOR (QA)", "Quentin Okafor")
    assert not names_person("R. Vidal, Head of Production", "Quentin Okafor")
    assert not names_person("Quentin Okaforson", "Quentin Okafor")


def _second_account(db, username: str, full_name: str, role: str):
    """An account an earlier version let an admin add under a name that reads alike."""
    from cellbatch.db.tables import User
    from cellbatch.services.passwords import hash_password

    with UnitOfWork(db, who(db, "admin")) as uow:
        uow.add(
            User(
                username=username,
                full_name=full_name,
                role=role,
                password_hash=hash_password(pw(username), 1024),
                password_changed_at=uow.now,
                created_at=uow.now,
            ),
            reason="account created",
        )
        uow.commit()


@GMP28
def test_a_second_account_of_the_same_person_is_not_a_second_person(demo_db):
    # qa2 (Grace Liu) verified an entry of the RA dose; her second account may not release it
    _second_account(demo_db, "gliu", "Grace  Líu", "qa")
    involved = involvement_of(demo_db, RA, who(demo_db, "gliu").id)
    assert any(item.startswith("verified ") for item in involved), involved
    with pytest.raises(PermissionDenied, match="gliu may not release EASC-D001: they verified "):
        release.decide(demo_db, "gliu", RA, "release", "reviewed", password=pw("gliu"))
    # and tech1's second account is not the second person on tech1's entry
    _second_account(demo_db, "therrera", "TOMAS HERRERA", "technician")
    pending = [s for s in verification_status(demo_db, EB) if s.status == "pending"]
    mine = next(s for s in pending if s.recorded_by == who(demo_db, "tech1").id)
    with pytest.raises(PermissionDenied, match="therrera recorded or corrected"):
        verify(demo_db, "therrera", pw("therrera"), EB, mine.ref)


@GMP28
def test_an_involved_qa_officer_may_not_reject_either(demo_db):
    involved = involvement_of(demo_db, RA, who(demo_db, "qa2").id)
    assert involved, "the demo has qa2 verify an entry of the RA dose"
    with pytest.raises(PermissionDenied, match="qa2 may not reject EASC-D001: they verified"):
        release.decide(demo_db, "qa2", RA, "reject", "not needed", password=pw("qa2"))
    assert release.decide(demo_db, "qa1", RA, "quarantine", "hold", password=pw("qa1"))


def _investigate(db, ref: str, user: str) -> None:
    update_deviation(
        db,
        who(db, user),
        ref,
        classification="major",
        investigation="enzyme lot stored at room temperature",
        root_cause="storage instruction unclear",
        capa="SOP wording changed; staff retrained",
    )


@GMP28
def test_the_investigator_of_a_deviation_cannot_close_it(demo_db):
    (dev,) = list_deviations(demo_db, EB)
    _investigate(demo_db, dev.id, "qa1")
    with pytest.raises(PermissionDenied, match=f"qa1 investigated {dev.id}: .* another QA"):
        close_deviation(demo_db, "qa1", pw("qa1"), dev.id)
    assert list_deviations(demo_db, EB)[0].status == "open"
    # an investigator is also involved in the batch: qa1 may neither release nor reject it
    assert f"investigated {dev.id}" in involvement_of(demo_db, EB, who(demo_db, "qa1").id)
    with pytest.raises(PermissionDenied, match=f"qa1 may not reject {EB}: they investigated"):
        release.decide(demo_db, "qa1", EB, "reject", "HECA-452 low", password=pw("qa1"))
    close_deviation(demo_db, "qa2", pw("qa2"), dev.id)
    assert list_deviations(demo_db, EB)[0].status == "closed"


@pytest.fixture
def sops_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sops"
    shutil.copytree(REPO / "sops", folder)
    monkeypatch.setenv("CELLBATCH_SOPS_DIR", str(folder))
    return folder


def _new_version(sops_dir, version: str, author: str | None = None) -> None:
    text = (sops_dir / "SOP-EASC-EXP_v1.0.toml").read_text()
    text = text.replace('version = "1.0"', f'version = "{version}"', 1)
    if author is not None:
        text = text.replace('author = "R. Vidal, Head of Production"', f'author = "{author}"', 1)
    (sops_dir / f"SOP-EASC-EXP_v{version}.toml").write_text(text)


@GMP28
def test_an_sop_author_is_a_user_who_never_approves_their_own_sop(demo_db, sops_dir):
    _new_version(sops_dir, "1.2")
    with pytest.raises(RuleViolation, match=r"v1\.2 has no author in cellbatch: .*sop submit"):
        approve_sop(demo_db, "qa1", pw("qa1"), "SOP-EASC-EXP", "1.2")
    with pytest.raises(PermissionDenied, match="admin .* may not author SOPs"):
        submit_sop(demo_db, "admin", pw("admin"), "SOP-EASC-EXP", "1.2")
    done = submit_sop(demo_db, "qa1", pw("qa1"), "SOP-EASC-EXP", "1.2")
    assert (done.full_name, done.username) == ("Quentin Okafor", "qa1")
    with pytest.raises(RuleViolation, match="already has an author"):
        submit_sop(demo_db, "sup1", pw("sup1"), "SOP-EASC-EXP", "1.2")
    with pytest.raises(PermissionDenied, match=r"qa1 wrote SOP-EASC-EXP v1\.2"):
        approve_sop(demo_db, "qa1", pw("qa1"), "SOP-EASC-EXP", "1.2")
    _second_account(demo_db, "qokafor", "Quentin OKAFOR", "qa")
    with pytest.raises(PermissionDenied, match=r"qokafor wrote SOP-EASC-EXP v1\.2"):
        approve_sop(demo_db, "qokafor", pw("qokafor"), "SOP-EASC-EXP", "1.2")
    approved = approve_sop(demo_db, "qa2", pw("qa2"), "SOP-EASC-EXP", "1.2")
    assert approved.username == "qa2"


@GMP28
def test_an_sop_whose_file_names_the_approver_as_author_is_refused(demo_db, sops_dir):
    _new_version(sops_dir, "1.3", author="Q. Okafor, Quality Assurance")
    submit_sop(demo_db, "sup1", pw("sup1"), "SOP-EASC-EXP", "1.3")
    with pytest.raises(PermissionDenied, match="names qa1 .* as its author"):
        approve_sop(demo_db, "qa1", pw("qa1"), "SOP-EASC-EXP", "1.3")
    assert approve_sop(demo_db, "qa2", pw("qa2"), "SOP-EASC-EXP", "1.3").username == "qa2"


def test_sop_submit_and_approve_on_the_command_line(cli, demo_db, sops_dir):
    _new_version(sops_dir, "1.2")
    url = demo_db.url
    r = cli("--db", url, "sop", "submit", "SOP-EASC-EXP", "--version", "1.2", "--user", "sup1",
            "--password-stdin", input=f"{pw('sup1')}\n")  # fmt: skip
    assert (
        r.code == 0 and "SOP-EASC-EXP v1.2 submitted for approval by Sofia Moretti (sup1)" in r.out
    ), r.err
    r = cli("--db", url, "sop", "approve", "SOP-EASC-EXP", "--version", "1.2", "--user", "sup1",
            "--password-stdin", input=f"{pw('sup1')}\n")  # fmt: skip
    assert r.code == 5 and "needs role qa" in r.err
    r = cli("--db", url, "sop", "approve", "SOP-EASC-EXP", "--version", "1.2", "--user", "qa1",
            "--password-stdin", input=f"{pw('qa1')}\n")  # fmt: skip
    assert r.code == 0, r.err
