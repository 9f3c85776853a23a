"""Approving the label site settings: a new version, signed by QA, audited (like an SOP).

The one way site settings change: QA reads the file, then signs its exact content (user ID
and password again, with a reason). The approved copy lives in the database; editing the
file afterwards changes nothing until it is approved again, as a new version.
"""

from __future__ import annotations

from pathlib import Path

from cellbatch.db.database import Database
from cellbatch.db.tables import SiteSettingsVersion
from cellbatch.domain.errors import RuleViolation
from cellbatch.domain.text import typed_text
from cellbatch.domain.users import Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.queries.site_settings import (
    SiteSettingsView,
    latest_row,
    settings_content,
    settings_hash,
    site_settings_version,
)
from cellbatch.services.unit_of_work import UnitOfWork
from cellbatch.site import default_site_settings_path, read_site_settings_file


def approve_site_settings(
    db: Database, username: str, password: str, path: Path | None = None, *, reason: str
) -> SiteSettingsView:
    """QA approves the content of a site settings file as the next version, with a signature.

    The file is checked first (every refusal names the file and the key). Content already in
    force is refused: there is nothing to approve.
    """
    path = Path(path) if path is not None else default_site_settings_path()
    data, _settings = read_site_settings_file(path)
    why = typed_text(reason, "--reason", what="what changed in the site settings, and why")
    signer = reauthenticate(db, username, password)
    signer.require(Role.QA, action="approve site settings")
    content = settings_content(data)
    digest = settings_hash(content)
    with UnitOfWork(db, signer) as uow:
        current = latest_row(uow.session)
        if current is not None and current.content_hash == digest:
            raise RuleViolation(
                f"{path.name}: this content is already in force as site settings "
                f"v{current.version}: nothing to approve"
            )
        version = (current.version if current is not None else 0) + 1
        row = uow.add(
            SiteSettingsVersion(
                version=version,
                content=content,
                content_hash=digest,
                source=path.name,
                reason=why,
                signer_id=signer.id,
                signer_name=signer.full_name,
                signed_at=uow.now,
            ),
            reason=f"site settings v{version} approved (electronic signature, approved): {why}",
        )
        view = site_settings_version(uow.session, row.id)
        uow.commit()
        return view
