"""Label site settings under change control: versions approved by QA with a signature (GMP-26).

What a label says comes from the approved version in the database, pinned by every printed
label with the hash of its content; neither a file nor the environment changes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cellbatch.domain.errors import InvalidInput, PermissionDenied, RuleViolation
from cellbatch.services.commands.site_settings import approve_site_settings
from cellbatch.services.queries.audit import list_entries
from cellbatch.services.queries.labels import label_history
from cellbatch.services.queries.site_settings import current_site_settings, site_settings_history
from cellbatch.site import default_site_settings_path
from tests.test_labels import (
    capture,
    decoded,
    intended,
    pages_of,
    print_pdf,
    release_demo_dose,
    user,
)

GMP26 = pytest.mark.requirement("GMP-26")


def hostile_copy(tmp_path: Path) -> Path:
    """The shipped settings edited as an attacker would: another time zone (the expiry moves),
    a mandatory statement dropped, the example notice switched off."""
    source = default_site_settings_path().read_text(encoding="utf-8")
    edited = (
        source.replace('timezone = "Europe/London"', 'timezone = "Pacific/Kiritimati"')
        .replace('    "Do not irradiate.",\n', "")
        .replace("example = true", "example = false")
    )
    assert edited.count("Pacific/Kiritimati") == 1 and "Do not irradiate" not in edited
    path = tmp_path / "hostile-site.toml"
    path.write_text(edited, encoding="utf-8")
    return path


@GMP26
def test_a_hostile_settings_file_in_the_environment_changes_no_label(
    demo_db, tmp_path, monkeypatch
) -> None:
    """CELLBATCH_SITE_SETTINGS (or any variable) pointing at an edited copy changes nothing."""
    release_demo_dose(demo_db)
    monkeypatch.setenv("CELLBATCH_SITE_SETTINGS", str(hostile_copy(tmp_path)))
    text, barcodes = pages_of(print_pdf(demo_db, "EASC-D001"))[0]
    assert decoded(barcodes) == intended(demo_db, "EASC-D001")  # the expiry as approved
    assert "Do not irradiate." in text
    assert "EXAMPLE FIN – NOT FOR CLINICAL USE" in text
    assert "site settings v1" in text  # the version it was made under, in the print trace
    [label] = label_history(demo_db, "EASC-D001").labels[-1:]
    assert label.site_settings == "site settings v1" and len(label.content_hash) == 64


@GMP26
def test_new_settings_take_effect_only_when_qa_signs_them(demo_db, tmp_path) -> None:
    """A technician cannot approve; QA's approval makes v2, and labels made after it pin v2."""
    hostile = hostile_copy(tmp_path)
    before = current_site_settings(demo_db)
    with pytest.raises(PermissionDenied):
        approve_site_settings(demo_db, "tech1", "demo-tech1-pass", hostile, reason="new zone")
    with pytest.raises(InvalidInput, match="--reason"):
        approve_site_settings(demo_db, "qa1", "demo-qa1-pass", hostile, reason="  ")
    assert current_site_settings(demo_db).version == before.version == 1
    first: list = []
    from cellbatch.services.commands.labels import print_labels

    print_labels(demo_db, user(demo_db, "tech1"), "EASC-D001", capture(first))
    done = approve_site_settings(demo_db, "qa1", "demo-qa1-pass", hostile, reason="to Kiribati")
    assert (done.version, done.approved_by, done.source) == (2, "Quentin Okafor", hostile.name)
    assert done.settings.timezone == "Pacific/Kiritimati"
    assert [v.version for v in site_settings_history(demo_db)] == [1, 2]
    entry = list_entries(demo_db, entity="site_settings")[-1]
    assert entry.username == "qa1" and "electronic signature" in (entry.reason or "")
    with pytest.raises(RuleViolation, match="already in force as site settings v2"):
        approve_site_settings(demo_db, "qa1", "demo-qa1-pass", hostile, reason="again")
    second: list = []
    print_labels(
        demo_db, user(demo_db, "tech1"), "EASC-D001", capture(second),
        reprint=True, reason="settings changed",
    )  # fmt: skip
    assert first[0].site_settings == "site settings v1"
    assert second[0].site_settings == "site settings v2"
    assert "Do not irradiate." in first[0].statements
    assert "Do not irradiate." not in second[0].statements
    assert first[0].expiry_local != second[0].expiry_local  # the zone moved the local time
    labels = label_history(demo_db, "EASC-D001").labels
    assert [label.site_settings for label in labels] == ["site settings v1", "site settings v2"]


@GMP26
def test_settings_edited_in_the_database_label_nothing(demo_db) -> None:
    """Content that no longer matches QA's signed hash is refused, never printed."""
    with demo_db.engine.begin() as connection:
        connection.execute(text("UPDATE site_settings SET content_hash = :h"), {"h": "0" * 64})
    with pytest.raises(RuleViolation, match="no longer match the content QA approved"):
        print_pdf(demo_db, "EASC-D001")


@GMP26
def test_without_approved_settings_no_din_is_assigned(db) -> None:
    """A database whose site settings QA never approved makes no DIN and prints no label."""
    from datetime import UTC, datetime, timedelta

    from cellbatch.services.auth import authenticate
    from cellbatch.services.commands import donors
    from cellbatch.services.commands.users import add_user, create_first_admin
    from tests.lab import PASSWORD

    create_first_admin(db, "admin", "Ada Admin", PASSWORD)
    admin = authenticate(db, "admin", PASSWORD)
    add_user(db, admin, "tech1", "Tess Tech", "technician", password=PASSWORD)
    tech = authenticate(db, "tech1", PASSWORD)
    donors.add_donor(db, tech, "DN-1", relationship="unrelated", sex="F", birth_year=1990)
    now = datetime.now(UTC)
    with pytest.raises(RuleViolation, match="no site settings are approved in cellbatch"):
        donors.receive_tissue_lot(
            db, tech, "TL-1", donor_code="DN-1", tissue="adipose", amount=100.0,
            collected=now - timedelta(hours=3), received=now - timedelta(hours=1),
            receipt_temperature=6.0,
        )  # fmt: skip


@GMP26
def test_site_approve_and_show_on_the_command_line(demo_db, cli, tmp_path) -> None:
    hostile = hostile_copy(tmp_path)
    result = cli(
        "--db", demo_db.url, "site", "approve", str(hostile), "--reason", "zone change",
        "--user", "qa2", "--password-stdin", input="demo-qa2-pass\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "site settings v2 (approved by Grace Liu" in result.out
    shown = cli(
        "--db", demo_db.url, "site", "show", "--user", "tech1", "--password-stdin",
        input="demo-tech1-pass\n",
    )  # fmt: skip
    assert shown.code == 0, shown.err
    assert "site settings v2" in shown.out and "Pacific/Kiritimati" in shown.out
    broken = tmp_path / "broken.toml"
    broken.write_text(hostile.read_text().replace('fin = "A9999"', 'fin = "O9999"'))
    refused = cli(
        "--db", demo_db.url, "site", "approve", str(broken), "--reason", "x",
        "--user", "qa2", "--password-stdin", input="demo-qa2-pass\n",
    )  # fmt: skip
    assert refused.code != 0 and "facility.fin" in refused.err and "letter O" in refused.err
