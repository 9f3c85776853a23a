"""The versions of the security policy as shown: values, reason, who signed, when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cellbatch.db.database import Database
from cellbatch.db.tables import SecurityPolicyVersion, User
from cellbatch.domain.security_policy import SecurityPolicy
from cellbatch.domain.timeparse import iso_utc
from cellbatch.services.queries.signed_versions import versions_with_signers
from cellbatch.services.security_policy import policy_of, policy_standing


@dataclass(frozen=True)
class PolicyVersionView:
    """One version of the security policy as shown: values, reason, who signed it, when."""

    version: int
    policy: SecurityPolicy
    reason: str
    signed_by: str
    """Printed name of the admin who signed it (the program for the default version)."""
    username: str | None
    signed_at: str
    content_hash: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output."""
        return {
            "version": self.version,
            **self.policy.to_dict(),
            "reason": self.reason,
            "signed_by": self.signed_by,
            "username": self.username,
            "signed_at": self.signed_at,
            "content_hash": self.content_hash,
        }


def policy_history(db: Database) -> list[PolicyVersionView]:
    """Every version of the policy, oldest first, with who signed it."""
    with db.session() as session:
        rows = versions_with_signers(session, SecurityPolicyVersion)
        return [version_view(row, user) for row, user in rows]


def version_view(row: SecurityPolicyVersion, user: User | None) -> PolicyVersionView:
    """The shown form of one policy version row."""
    return PolicyVersionView(
        version=row.version,
        policy=policy_of(row),
        reason=row.reason,
        signed_by=row.signer_name,
        username=user.username if user is not None else None,
        signed_at=iso_utc(row.signed_at) or "",
        content_hash=row.content_hash,
    )


@dataclass(frozen=True)
class PolicyShown:
    """The policy in force as ``policy show`` prints it: the one the log-in applies."""

    policy: SecurityPolicy
    version: PolicyVersionView | None
    """The version in force (None: no version holds, the program's default applies)."""
    refused: tuple[tuple[int, str], ...]
    """Newer versions not applied, newest first: (version, why)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON output: the version in force and the refused ones."""
        shown = (
            self.version.to_dict()
            if self.version is not None
            else {"version": None, **self.policy.to_dict(), "reason": "the program's default"}
        )
        return {
            **shown,
            "refused": [{"version": number, "why": why} for number, why in self.refused],
        }


def policy_shown(db: Database) -> PolicyShown:
    """The policy in force, with the version that set it and the newer ones refused.

    Decided by :func:`~cellbatch.services.security_policy.policy_standing`, the function the
    log-in applies: what is printed is what is enforced.
    """
    with db.session() as session:
        standing = policy_standing(session.connection())
        view = next(
            (
                version_view(row, user)
                for row, user in versions_with_signers(session, SecurityPolicyVersion)
                if row.version == standing.version
            ),
            None,
        )
    return PolicyShown(standing.policy, view, standing.refused)
