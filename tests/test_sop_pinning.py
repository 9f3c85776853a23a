"""A batch pins its SOP by ID, version and hash; a silently edited SOP file is refused."""

from __future__ import annotations

import json
import shutil

import pytest

from cellbatch.domain.errors import RuleViolation
from cellbatch.services.commands import batches
from cellbatch.services.queries.batch_view import batch_view
from cellbatch.services.queries.sops import available_sops
from tests.conftest import REPO
from tests.lab import ago, make_lab


@pytest.fixture
def sops_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sops"
    shutil.copytree(REPO / "sops", folder)
    monkeypatch.setenv("CELLBATCH_SOPS_DIR", str(folder))
    return folder


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_an_edited_sop_file_is_read_again(sops_dir):
    before = {(s.id, s.version): s.content_hash for s in available_sops()}
    _edit(sops_dir / "SOP-EASC-EXP_v1.0.toml", "target_vials = 40", "target_vials = 41")
    after = {(s.id, s.version): s.content_hash for s in available_sops()}
    assert after[("SOP-EASC-EXP", "1.0")] != before[("SOP-EASC-EXP", "1.0")]
    assert after[("SOP-EASC-DOSE", "1.0")] == before[("SOP-EASC-DOSE", "1.0")]


def test_a_changed_file_under_a_used_version_is_refused_and_batches_keep_their_sop(db, sops_dir):
    lab = make_lab(db)
    batches.start_expansion(db, lab.tech1, "EXP-1", lot_number="TL-A", sop_id="SOP-EASC-EXP",
                            at=ago(days=2))  # fmt: skip
    pinned = batch_view(db, "EXP-1").to_dict()["sop"]["content_hash"]
    _edit(sops_dir / "SOP-EASC-EXP_v1.0.toml", "max_cumulative_pd = 25.0",
          "max_cumulative_pd = 30.0")  # fmt: skip
    with pytest.raises(RuleViolation, match="must be released as a new version"):
        batches.start_expansion(db, lab.tech1, "EXP-2", lot_number="TL-A",
                                sop_id="SOP-EASC-EXP")  # fmt: skip
    view = batch_view(db, "EXP-1").to_dict()
    assert view["sop"]["content_hash"] == pinned
    assert view["limits"]["max_cumulative_pd"] == 25.0  # the pinned content, not the file


@pytest.mark.requirement("GMP-09")
@pytest.mark.requirement("GMP-13")
def test_a_new_sop_version_is_used_only_once_qa_approved_it_with_a_signature(db, sops_dir, cli):
    import json

    from cellbatch.domain.errors import AuthenticationFailed, PermissionDenied
    from cellbatch.services.commands.sops import approve_sop, submit_sop
    from cellbatch.services.queries.audit import list_entries
    from cellbatch.services.queries.sops import approvals
    from tests.lab import PASSWORD, snapshot

    lab = make_lab(db)  # approves the shipped versions
    text = (sops_dir / "SOP-EASC-EXP_v1.0.toml").read_text()
    (sops_dir / "SOP-EASC-EXP_v1.2.toml").write_text(
        text.replace('version = "1.0"', 'version = "1.2"', 1)
    )
    before = snapshot(db)
    with pytest.raises(RuleViolation, match=r"SOP-EASC-EXP v1\.2 is not approved in cellbatch"):
        batches.start_expansion(db, lab.tech1, "EXP-1", lot_number="TL-A", sop_id="SOP-EASC-EXP")
    with pytest.raises(PermissionDenied):
        approve_sop(db, "tech1", PASSWORD, "SOP-EASC-EXP", "1.2")
    with pytest.raises(AuthenticationFailed):
        approve_sop(db, "qa1", "wrong-password", "SOP-EASC-EXP", "1.2")
    with pytest.raises(RuleViolation, match="v1.1 is draft, not approved"):
        approve_sop(db, "qa1", PASSWORD, "SOP-EASC-EXP", "1.1")
    # no record changed (qa1's counted wrong password was reset by the next good log-in)
    assert snapshot(db)[1] == before[1]
    assert ("SOP-EASC-EXP", "1.2") not in approvals(db)
    submit_sop(db, "sup1", PASSWORD, "SOP-EASC-EXP", "1.2")  # its author signs it first
    done = approve_sop(db, "qa1", PASSWORD, "SOP-EASC-EXP", "1.2")
    assert (done.full_name, done.username) == ("Quinn QA", "qa1")
    with pytest.raises(RuleViolation, match="already approved"):
        approve_sop(db, "qa1", PASSWORD, "SOP-EASC-EXP", "1.2")
    batches.start_expansion(db, lab.tech1, "EXP-1", lot_number="TL-A", sop_id="SOP-EASC-EXP")
    assert batch_view(db, "EXP-1").to_dict()["sop"]["version"] == "1.2"
    listed = cli("--db", db.url, "sop", "list", "--json", user="qa1", password=PASSWORD)
    listed = json.loads(listed.out)["sops"]
    (entry,) = [s for s in listed if s["id"] == "SOP-EASC-EXP" and s["version"] == "1.2"]
    assert entry["approval"]["full_name"] == "Quinn QA"
    (draft,) = [s for s in listed if s["id"] == "SOP-EASC-EXP" and s["version"] == "1.1"]
    assert draft["approval"] is None
    assert any(
        e.entity == "sop_approval" and e.username == "qa1" and "v1.2" in (e.reason or "")
        for e in list_entries(db)
    )


def test_a_malformed_sop_file_disables_only_itself_and_is_named(db, sops_dir, cli):
    """Issue 17 point 11: one bad file blocked `sop list` and every `batch start`."""
    from tests.lab import PASSWORD

    make_lab(db)
    broken = sops_dir / "SOP-BMMSC-EXP_v1.0.toml"
    broken.write_text(broken.read_text().replace("version =", "version = = ", 1))
    twin = sops_dir / "SOP-EASC-DOSE_v1.0-copy.toml"
    twin.write_text((sops_dir / "SOP-EASC-DOSE_v1.0.toml").read_text())
    listing = cli("--db", db.url, "sop", "list", user="tech1", password=PASSWORD)
    assert listing.code == 0, listing.err
    assert "SOP-EASC-EXP" in listing.out and "SOP-FUC-BMMSC-DOSE" in listing.out
    assert f"{broken}: line " in listing.out and "TOML syntax error" in listing.out
    assert f"{twin}: version: SOP-EASC-DOSE v1.0 is also defined in" in listing.out
    listed = json.loads(
        cli("--db", db.url, "sop", "list", "--json", user="tech1", password=PASSWORD).out
    )
    assert {f["file"] for f in listed["files_not_loaded"]} == {
        str(broken),
        str(twin),
        str(sops_dir / "SOP-EASC-DOSE_v1.0.toml"),
    }
    assert "SOP-BMMSC-EXP" not in {s["id"] for s in listed["sops"]}

    def start(code: str, sop: str, lot: str):
        return cli(
            "--db", db.url, "batch", "start", code, "--sop", sop, "--lot", lot,
            "--user", "tech1", "--password-stdin", input=f"{PASSWORD}\n",
        )  # fmt: skip

    assert start("EXP-9", "SOP-EASC-EXP", "TL-A").code == 0
    refused = start("EXP-10", "SOP-BMMSC-EXP", "TL-B")
    assert refused.code == 3 and "no SOP 'SOP-BMMSC-EXP'" in refused.err
    assert f"files not loaded: {broken}: line " in refused.err
