"""The label site settings in force: the newest version QA approved, as kept in the database.

Labels, DINs and product codes are made from this approved copy, never from a file or the
environment. Approving a new version is :mod:`cellbatch.services.commands.site_settings`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from cellbatch.db.audit_chain import dumps, sha256
from cellbatch.db.database import Database
from cellbatch.db.tables import SiteSettingsVersion, User
from cellbatch.domain.errors import InvalidInput, NotFound, RuleViolation
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.queries.signed_versions import versions_with_signers
from cellbatch.site import SiteSettings, parse_site_settings

NONE_APPROVED = (
    "no site settings are approved in cellbatch: QA approves the site's settings file "
    "(`cellbatch site approve labels/site.toml --reason TEXT --user USER-ID`) before DINs, "
    "product codes or labels are made"
)
"""Why nothing is labelled in a database whose site settings QA never approved."""


@dataclass(frozen=True)
class SiteSettingsView:
    """One approved version of the site settings: what it says, who approved it, when."""

    id: int
    version: int
    content_hash: str
    source: str
    reason: str
    approved_by: str
    """Printed name of the QA officer who signed the approval."""
    username: str
    approved_at: str
    settings: SiteSettings

    @property
    def label(self) -> str:
        """``site settings v2`` as labels, scans and the record name it."""
        return f"site settings v{self.version}"

    def describe(self) -> str:
        """One line naming the version, its approval and its content hash."""
        return (
            f"{self.label} (approved by {self.approved_by} {self.approved_at}, "
            f"sha256 {self.content_hash[:12]})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output (the settings as their main values)."""
        site = self.settings
        return {
            "version": self.version,
            "content_hash": self.content_hash,
            "source": self.source,
            "reason": self.reason,
            "approved_by": self.approved_by,
            "username": self.username,
            "approved_at": self.approved_at,
            "facility": site.facility_name,
            "fin": site.fin,
            "example": site.example,
            "timezone": site.timezone,
            "statement_set": site.statement_set,
            "statements": list(site.statements),
            "products": {
                key: product.description_code + product.collection_type
                for key, product in site.products.items()
            },
        }


def settings_content(data: dict[str, Any]) -> dict[str, Any]:
    """Settings data as stored: the JSON form of what the file says."""
    return json.loads(json.dumps(data, default=str))


def settings_hash(content: dict[str, Any]) -> str:
    """SHA-256 of stored settings content: what QA's approval is bound to."""
    return sha256(dumps(content))


def _view(row: SiteSettingsVersion, user: User | None) -> SiteSettingsView:
    """The shown form of one version row, its content checked against its signed hash."""
    if settings_hash(row.content) != row.content_hash:
        raise RuleViolation(
            f"site settings v{row.version} no longer match the content QA approved (hash "
            f"{row.content_hash[:12]}): the database was edited outside cellbatch; nothing is "
            "labelled under them (`cellbatch audit verify` names the record)"
        )
    try:
        settings = parse_site_settings(row.content, f"site settings v{row.version}")
    except InvalidInput as exc:
        raise RuleViolation(f"site settings v{row.version} cannot be read: {exc}") from None
    return SiteSettingsView(
        id=row.id,
        version=row.version,
        content_hash=row.content_hash,
        source=row.source,
        reason=row.reason,
        approved_by=row.signer_name,
        username=user.username if user else "?",
        approved_at=iso_utc(row.signed_at) or "",
        settings=settings,
    )


def latest_row(session: Session) -> SiteSettingsVersion | None:
    """The newest approved version row, if any."""
    return session.execute(
        select(SiteSettingsVersion).order_by(SiteSettingsVersion.version.desc()).limit(1)
    ).scalar_one_or_none()


def site_settings_in_force(session: Session) -> SiteSettingsView:
    """The settings labels are made from now: the newest approved version (refused if none)."""
    row = latest_row(session)
    if row is None:
        raise RuleViolation(NONE_APPROVED)
    return _view(row, session.get(User, row.signer_id))


def site_settings_version(session: Session, settings_id: int) -> SiteSettingsView:
    """One approved version by its row id (the one a label was printed under)."""
    row = session.get(SiteSettingsVersion, settings_id)
    if row is None:
        raise NotFound(f"no site settings version with id {settings_id}")
    return _view(row, session.get(User, row.signer_id))


def current_site_settings(db: Database) -> SiteSettingsView:
    """The settings in force (for callers without an open session)."""
    with db.session() as session:
        return site_settings_in_force(session)


def site_settings_history(db: Database) -> list[SiteSettingsView]:
    """Every approved version, oldest first."""
    with db.session() as session:
        rows = versions_with_signers(session, SiteSettingsVersion)
        return [_view(row, user) for row, user in rows]
