"""What a new password must be (NIST SP 800-63B §5.1.1.2): long, not common, not blank.

Checked whenever a password is set or changed; a password set before a stricter policy
keeps working until its next change (see docs/security-policy.md).
"""

from __future__ import annotations

import gzip
import unicodedata
from functools import lru_cache
from importlib import resources

from cellbatch.domain.errors import InvalidInput
from cellbatch.domain.security_policy import MAX_PASSWORD_LENGTH, SecurityPolicy

COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"
"""20 000 passwords most used in breaches, lower case, one a line (shipped in this package)."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case."""
    data = resources.files("cellbatch.domain").joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def _is_run(text: str) -> bool:
    """True for a sequence like ``abcdefghijkl`` or ``123456789012`` (steps of one)."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    if text.isdigit():  # digits wrap around: 8, 9, 0, 1
        return steps <= {1, -9} or steps <= {-1, 9}
    return steps == {1} or steps == {-1}


def _is_repetition(text: str, common: frozenset[str]) -> bool:
    """True for a short or common unit repeated: ``abcabcabcabc``, ``qwertyqwerty``."""
    for size in range(1, len(text) // 2 + 1):
        unit = text[:size]
        if len(text) % size == 0 and unit * (len(text) // size) == text:
            return size <= 4 or unit in common
    return False


def check_new_password(
    password: str, policy: SecurityPolicy, *, username: str = "", field: str = "password"
) -> str:
    """``password`` if it may be set under ``policy``; else InvalidInput naming ``field``."""
    if not password or all(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in password):
        raise InvalidInput(field, "expected a password, got only blanks")
    bad = next((ch for ch in password if unicodedata.category(ch) in ("Cc", "Cf")), None)
    if bad is not None:
        raise InvalidInput(field, f"expected printable characters, got U+{ord(bad):04X}")
    if len(password) < policy.min_password_length:
        raise InvalidInput(
            field,
            f"expected at least {policy.min_password_length} characters, got {len(password)}",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(field, f"expected at most {MAX_PASSWORD_LENGTH} characters")
    folded = password.casefold()
    common = common_passwords()
    if folded in common or folded.strip() in common:
        raise InvalidInput(field, "expected a password not on the list of common passwords")
    if _is_run(folded) or _is_repetition(folded, common):
        raise InvalidInput(field, "expected a password that is not a sequence or a repetition")
    if username and folded == username.casefold():
        raise InvalidInput(field, "expected a password that is not the user ID")
    return password
