"""A batch pins its SOP by ID, version and hash; a silently edited SOP file is refused."""

from __future__ import annotations

import shutil

import pytest

from cellbatch.domain.errors import RuleViolation
from cellbatch.services import batches
from cellbatch.services.batch_view import batch_view
from cellbatch.services.sops import available_sops
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
    pinned = batch_view(db, "EXP-1")["sop"]["content_hash"]
    _edit(sops_dir / "SOP-EASC-EXP_v1.0.toml", "max_cumulative_pd = 25.0",
          "max_cumulative_pd = 30.0")  # fmt: skip
    with pytest.raises(RuleViolation, match="must be released as a new version"):
        batches.start_expansion(db, lab.tech1, "EXP-2", lot_number="TL-A",
                                sop_id="SOP-EASC-EXP")  # fmt: skip
    view = batch_view(db, "EXP-1")
    assert view["sop"]["content_hash"] == pinned
    assert view["limits"]["max_cumulative_pd"] == 25.0  # the pinned content, not the file
