"""Slow salted password hashes (scrypt); the cost travels with each hash.

The cost of a new hash is the security policy's ``scrypt_n`` (never below 2^17, see
:mod:`cellbatch.domain.security_policy`). The test suite needs fast hashes: it sets
:data:`TEST_SCRYPT_N` in its own process (``tests/conftest.py``). That is a module
constant, not a setting: no environment variable, file or option reaches it, so a user
of the program cannot lower the cost (see docs/security-policy.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_R = 8
_P = 1
_DKLEN = 32
_SALT = 16

TEST_SCRYPT_N: int | None = None
"""Test seam: when set (by the test suite, in-process only), new hashes use this cost."""

_DUMMY_SALT = base64.b64encode(b"cellbatch-dummy!").decode()
_DUMMY_DIGEST = base64.b64encode(bytes(_DKLEN)).decode()


def hashing_cost(policy_n: int) -> int:
    """The scrypt N of new hashes: the policy's (or the test suite's, in its own process)."""
    return TEST_SCRYPT_N or policy_n


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=dklen,
        maxmem=256 * r * n + 2**20,
    )


def hash_password(password: str, n: int) -> str:
    """A self-describing scrypt hash: ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(_SALT)
    digest = _scrypt(password, salt, n, _R, _P, _DKLEN)
    return "$".join(
        [
            "scrypt",
            str(n),
            str(_R),
            str(_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def cost_of(stored: str) -> int:
    """The scrypt N a stored hash was made with (0 if it is not a hash of ours)."""
    parts = stored.split("$")
    try:
        return int(parts[1]) if len(parts) == 6 and parts[0] == "scrypt" else 0
    except ValueError:
        return 0


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; compares in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def dummy_hash(n: int) -> str:
    """A stored-hash form no password matches, with cost ``n``.

    Checking a password against it costs exactly what checking a real hash of cost ``n``
    costs, so an unknown user ID answers as slowly as a wrong password.
    """
    return "$".join(["scrypt", str(n), str(_R), str(_P), _DUMMY_SALT, _DUMMY_DIGEST])


def one_time_password() -> str:
    """A random initial password, easy to read out (no 0/O, 1/l): 14 characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
