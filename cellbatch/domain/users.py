"""Roles and the authenticated person every write is attributed to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cellbatch.domain.errors import PermissionDenied


class Role(StrEnum):
    """What a user may do: record, supervise, review and release, administer."""

    TECHNICIAN = "technician"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


ROLE_NAMES = tuple(role.value for role in Role)
"""Role names as typed on the command line."""


@dataclass(frozen=True)
class Actor:
    """A user who has just proven who they are with user ID and password."""

    id: int
    username: str
    full_name: str
    role: Role

    def require(self, *roles: Role, action: str) -> None:
        """Refuse ``action`` unless the actor has one of ``roles``."""
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise PermissionDenied(
                f"{self.username} ({self.role.value}) may not {action}: needs role {allowed}"
            )


RECORDING_ROLES = (Role.TECHNICIAN, Role.SUPERVISOR)
"""Roles that record process steps and QC results."""
