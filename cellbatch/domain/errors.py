"""The errors a user can cause, each with a message fit to show them as is.

Every refusal the program makes is one of these. The command line and the terminal UI
show ``str(error)`` and never a traceback.
"""

from __future__ import annotations


class CellbatchError(Exception):
    """Base of every error that is the user's to fix (bad input, a rule, a permission)."""

    exit_code = 1


class InvalidInput(CellbatchError):
    """A value typed or scanned is not acceptable; names the field and what was expected."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFound(CellbatchError):
    """A named record does not exist."""

    exit_code = 3


class RuleViolation(CellbatchError):
    """A GMP or SOP rule forbids the action (order, limits, expiry, locks)."""

    exit_code = 4


class PermissionDenied(CellbatchError):
    """The user's role or involvement does not allow the action."""

    exit_code = 5


class AuthenticationFailed(CellbatchError):
    """User ID and password did not authenticate (wrong, locked, inactive or expired)."""

    exit_code = 6


class InvalidSop(CellbatchError):
    """A procedure file under ``sops/`` is malformed; names the file and the field."""

    exit_code = 7

    def __init__(self, path: str, field: str, message: str) -> None:
        self.path = path
        self.field = field
        self.message = message
        super().__init__(f"{path}: {field}: {message}")
