"""Roles and the authenticated person every write is attributed to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cellbatch.domain.errors import InvalidInput, PermissionDenied
from cellbatch.domain.text import MAX_NAME, typed_text


class Role(StrEnum):
    """What a user may do: record, supervise, review and release, administer.

    The clinic's staff register recipients, plan, receive and give the infusions.
    """

    TECHNICIAN = "technician"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"
    CLINIC = "clinic"


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


CLINIC_ROLES = (Role.CLINIC,)
"""Roles that register recipients and their weights and plan their treatment."""

BAG_HOLDER_ROLES = (Role.CLINIC, Role.TECHNICIAN, Role.SUPERVISOR, Role.QA)
"""Roles a bag may be issued or handed to: the ward's staff and the staff who carry it from
the cleanroom; never an administrator, whose account manages accounts, not product."""

IDENTITY_ROLES = (Role.CLINIC, Role.QA)
"""Roles that may see who a recipient is (name, date of birth, hospital number)."""

ADVERSE_EVENT_ROLES = (Role.CLINIC, Role.QA)
"""Roles told of adverse-event reports (the recipient's physician, QA)."""


USER_ID_RULE = "1–64 letters, digits, '.', '_' or '-'"
"""What a user ID (the log-in name) is made of, as messages say it."""


def user_id(text: str, field: str = "username") -> str:
    """A user ID as typed (blanks around it dropped), else InvalidInput naming ``field``."""
    username = text.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        shown = f", got {text.strip()[:40]!r}" if text.strip() else ""
        hint = " (a person's printed name goes in --name)" if " " in username else ""
        raise InvalidInput(field, f"expected a user ID of {USER_ID_RULE}{shown}{hint}")
    return username


def printed_name(text: str, field: str = "--name") -> str:
    """A person's printed full name, as signatures show it: one line of readable text."""
    return typed_text(
        text, field, what="the user's printed full name", limit=MAX_NAME, one_line=True
    )


def role(text: str, field: str = "role") -> Role:
    """A role by its name, else InvalidInput naming ``field`` and the roles there are."""
    if text not in ROLE_NAMES:
        raise InvalidInput(field, f"expected one of {', '.join(ROLE_NAMES)}, got {text!r}")
    return Role(text)
