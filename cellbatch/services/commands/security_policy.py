"""Changing the security policy: a new version, signed by an admin, audited.

The one way the policy changes (the command line's ``cellbatch policy set`` and any screen
call :func:`change_policy`). A version is never edited; the newest one is in force.
"""

from __future__ import annotations

from sqlalchemy import select

from cellbatch.db.database import Database
from cellbatch.db.tables import SecurityPolicyVersion, User
from cellbatch.domain.errors import InvalidInput, RuleViolation
from cellbatch.domain.security_policy import OPTION
from cellbatch.domain.text import typed_text
from cellbatch.domain.users import Role
from cellbatch.services.auth import reauthenticate
from cellbatch.services.queries.security_policy import PolicyVersionView, version_view
from cellbatch.services.security_policy import latest_version, policy_hash, policy_in_force
from cellbatch.services.unit_of_work import UnitOfWork


def change_policy(
    db: Database,
    username: str,
    password: str,
    *,
    reason: str,
    max_failed_attempts: int | None = None,
    min_password_length: int | None = None,
    password_max_age_days: int | None = None,
    scrypt_n: int | None = None,
    idle_lock_seconds: int | None = None,
) -> PolicyVersionView:
    """Put a new policy version in force, signed by an admin (user ID and password again).

    Values not given stay as they are; every value must be within the program's floors
    and ceilings. Passwords already set stay valid; the new rules apply when one is set.
    """
    values = {
        "max_failed_attempts": max_failed_attempts,
        "min_password_length": min_password_length,
        "password_max_age_days": password_max_age_days,
        "scrypt_n": scrypt_n,
        "idle_lock_seconds": idle_lock_seconds,
    }
    if all(v is None for v in values.values()):
        raise InvalidInput(
            OPTION["max_failed_attempts"],
            f"expected at least one of {', '.join(OPTION.values())}",
        )
    why = typed_text(reason, "--reason", what="why the policy changes")
    signer = reauthenticate(db, username, password)
    signer.require(Role.ADMIN, action="change the security policy")
    with UnitOfWork(db, signer) as uow:
        current = policy_in_force(uow.session)
        new = current.changed(**values)
        if new == current:
            raise RuleViolation("the policy already has these values: nothing to change")
        last = latest_version(uow.session)
        row = uow.add(
            SecurityPolicyVersion(
                version=(last.version if last is not None else 0) + 1,
                **new.to_dict(),
                reason=why,
                content_hash=policy_hash(new),
                signer_id=signer.id,
                signer_name=signer.full_name,
                signed_at=uow.now,
            ),
            reason=f"security policy changed (electronic signature, approved): {why}",
        )
        user = uow.session.execute(select(User).where(User.id == signer.id)).scalar_one()
        view = version_view(row, user)
        uow.commit()
        return view
