"""The administrator's actions on users (create, disable, enable, reset password, change role), with the role
check, the lock-out guard and the audit, for the /admin page (callbacks/admin.py) and any later API.

Every function follows dashboard.services.base: it takes the caller's session and an Actor, checks the role first
(only "admin"), changes rows in the caller's transaction and writes one audit entry (action "admin_user_<op>",
target "user:<username>", never a password) that the caller commits together with the change; a refusal raises
base.Refused, already audited, with the form's field problems in `problems`.

A change is seen at the user's next request: the caller then acts on the user's server-side sessions (a disable
ends them, a new role makes them reload the user: dashboard.web.sessions end_user / user_changed), and API tokens'
owners are looked up on every request.

Lock-out guard: there is always at least one active administrator. Disabling or demoting an administrator
locks the rows of every active administrator first (PostgreSQL row locks; SQLite's write lock, BEGIN
IMMEDIATE), so two administrators demoting each other at the same moment cannot both succeed. Nobody disables
their own account (another administrator must): it would end the very session making the change.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain.text import has_control_or_bidi
from dashboard.services.base import Actor, Refused
from dashboard.services.base import refuse as base_refuse
from dashboard.store.engine import begin_write
from dashboard.store.models import User, utcnow

log = logging.getLogger(__name__)

ADMIN_ROLE: Final = "admin"
USERNAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
DISPLAY_NAME_MAX: Final = 128
PASSWORD_MIN: Final = 8
PASSWORD_MAX: Final = 256
# The user operations, as named in the audit log ("admin_user_<op>") and the refusals.
CREATE: Final = "create"
DISABLE: Final = "disable"
ENABLE: Final = "enable"
RESET_PASSWORD: Final = "reset_password"
CHANGE_ROLE: Final = "change_role"
USER_OPS: Final = (CREATE, DISABLE, ENABLE, RESET_PASSWORD, CHANGE_ROLE)


def audit_action(action: str) -> str:
    """The audit log's name of an administrator's action ("admin_user_disable", "admin_thresholds" …)."""
    return f"admin_{action}"


def refuse(session: Session, refusal: Refused, actor: Actor, action: str, target_type: str | None,
           target_id: str | None, request: dict[str, Any] | None = None, now: datetime | None = None) -> Refused:
    """base.refuse under the administrator's action name ("admin_<action>"): returns the refusal to raise."""
    return base_refuse(session, refusal, actor, audit_action(action), target_type, target_id, request, now)


def _name_taken(name: str) -> Refused:
    """The refusal (409) of a user name that is taken."""
    return Refused(409, "username_taken", f"the user name {name!r} is taken", params={"username": name},
                   problems={"username": ("username_taken", {})})


def check_admin(session: Session, actor: Actor, action: str, target_type: str | None = None,
                target_id: str | None = None) -> None:
    """Refuse (403, audited) anyone but an administrator; every admin action and view calls this first."""
    if actor.role != ADMIN_ROLE:
        refusal = Refused(403, "forbidden", f"the {actor.role!r} role may not administer", params={"role": actor.role})
        raise refuse(session, refusal, actor, action, target_type, target_id)


# --- users ----------------------------------------------------------------------------------------


def user_row(u: User) -> dict[str, Any]:
    """A user as the page shows it (never the password hash)."""
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
            "active": bool(u.active), "language": u.language, "created_at": u.created_at}


def list_users(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Every user, by name (administrators only)."""
    check_admin(session, actor, "users_view")
    return [user_row(u) for u in store.users.list_users(session)]


def password_problem(password: Any) -> tuple[str, dict[str, Any]] | None:
    """Why a new password is not acceptable, or None."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        return "password_short", {"min": PASSWORD_MIN}
    if len(password) > PASSWORD_MAX:
        return "too_long", {"max": PASSWORD_MAX}
    if not password.strip():
        return "password_short", {"min": PASSWORD_MIN}
    return None


def validate_new_user(username: Any, display_name: Any, role: Any,
                      password: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Field problems of a new user (pure): name pattern, display name length, a known role, the password."""
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        errors["username"] = ("username", {})
    if not isinstance(display_name, str) or not display_name.strip():
        errors["display_name"] = ("required", {})
    elif len(display_name) > DISPLAY_NAME_MAX:
        errors["display_name"] = ("too_long", {"max": DISPLAY_NAME_MAX})
    elif has_control_or_bidi(display_name):
        # Shown on the screens' top bars, in the audit log and in logs: one line, in the order it was typed.
        errors["display_name"] = ("one_line", {})
    if role not in c.ROLES:
        errors["role"] = ("role", {})
    problem = password_problem(password)
    if problem:
        errors["password"] = problem
    return errors


def create_user(session: Session, actor: Actor, username: Any, display_name: Any, role: Any, password: Any,
                now: datetime | None = None) -> dict[str, Any]:
    """Create an active user; refused (422) with field problems, or (409) when the name is taken."""
    now = now or utcnow()
    name = username.strip().lower() if isinstance(username, str) else username
    shown = display_name.strip() if isinstance(display_name, str) else display_name
    target = str(name)[:64] if name else None
    check_admin(session, actor, f"user_{CREATE}", "user", target)
    request = {"username": target, "display_name": str(shown)[:DISPLAY_NAME_MAX] if shown else None, "role": role}
    errors = validate_new_user(name, shown, role, password)
    if errors:
        raise refuse(session, Refused(422, "invalid", "invalid user: " + ", ".join(sorted(errors)), problems=errors),
                     actor, f"user_{CREATE}", "user", target, request, now)
    begin_write(session)
    if store.users.user_by_name(session, name) is not None:
        raise refuse(session, _name_taken(name), actor, f"user_{CREATE}", "user", target, request, now)
    try:
        user = store.users.create_user(session, name, shown, role, password)
    except IntegrityError:
        # Created by someone else between the check and the insert.
        raise refuse(session, _name_taken(name), actor, f"user_{CREATE}", "user", target, request, now) from None
    store.audit_log.record(session, actor.username, audit_action(f"user_{CREATE}"), "user", user.username,
                           detail={"role": role, "display_name": shown}, at=now)
    return user_row(user)


def _locked_target(session: Session, actor: Actor, op: str, user_id: Any, request: dict[str, Any],
                   now: datetime) -> User:
    """The user an operation is about, locked; refused (404) when there is none."""
    check_admin(session, actor, f"user_{op}", "user", str(user_id))
    begin_write(session)
    user = store.users.lock_user(session, user_id) if type(user_id) is int else None
    if user is None:
        raise refuse(session, Refused(404, "no_user", f"no user #{user_id}", params={"id": user_id}),
                     actor, f"user_{op}", "user", str(user_id), request, now)
    return user


def _keep_an_admin(session: Session, actor: Actor, op: str, user: User, request: dict[str, Any],
                   now: datetime) -> None:
    """Refuse (409) a change that would leave no active administrator."""
    if user.role != ADMIN_ROLE or not user.active:
        return
    others = [i for i in store.users.active_admin_ids(session, lock=True) if i != user.id]
    if not others:
        refusal = Refused(409, "last_admin", f"{user.username} is the last active administrator",
                          params={"username": user.username})
        raise refuse(session, refusal, actor, f"user_{op}", "user", user.username, request, now)


def set_active(session: Session, actor: Actor, user_id: Any, active: bool,
               now: datetime | None = None) -> dict[str, Any]:
    """Disable or enable a user, effective at their next request; never oneself, never the last admin."""
    now = now or utcnow()
    op = ENABLE if active else DISABLE
    request = {"user_id": user_id}
    user = _locked_target(session, actor, op, user_id, request, now)
    if not active:
        if actor.id is not None and user.id == actor.id:
            raise refuse(session, Refused(409, "self_disable", "an administrator cannot disable their own account"),
                         actor, f"user_{op}", "user", user.username, request, now)
        _keep_an_admin(session, actor, op, user, request, now)
    if bool(user.active) == active:
        word = "active" if active else "disabled"
        refusal = Refused(409, f"already_{word}", f"{user.username} is already {word}",
                          params={"username": user.username})
        raise refuse(session, refusal, actor, f"user_{op}", "user", user.username, request, now)
    user.active = active
    store.audit_log.record(session, actor.username, audit_action(f"user_{op}"), "user", user.username, at=now)
    session.flush()
    return user_row(user)


def change_role(session: Session, actor: Actor, user_id: Any, role: Any,
                now: datetime | None = None) -> dict[str, Any]:
    """Give a user another role, effective at their next request; never the last active admin's."""
    now = now or utcnow()
    request = {"user_id": user_id, "role": role}
    user = _locked_target(session, actor, CHANGE_ROLE, user_id, request, now)
    if role not in c.ROLES:
        raise refuse(session, Refused(422, "invalid", f"unknown role {role!r}", problems={"role": ("role", {})}),
                     actor, f"user_{CHANGE_ROLE}", "user", user.username, request, now)
    if role == user.role:
        refusal = Refused(409, "same_role", f"{user.username} already has the role {role}",
                          params={"username": user.username, "role": role})
        raise refuse(session, refusal, actor, f"user_{CHANGE_ROLE}", "user", user.username, request, now)
    if role != ADMIN_ROLE:
        _keep_an_admin(session, actor, CHANGE_ROLE, user, request, now)
    old = user.role
    user.role = role
    store.audit_log.record(session, actor.username, audit_action(f"user_{CHANGE_ROLE}"), "user", user.username,
                           detail={"from": old, "to": role}, at=now)
    session.flush()
    return user_row(user)


def reset_password(session: Session, actor: Actor, user_id: Any, password: Any,
                   now: datetime | None = None) -> dict[str, Any]:
    """Set a new password (hashed; never logged); the old one stops working at once."""
    now = now or utcnow()
    request = {"user_id": user_id}
    user = _locked_target(session, actor, RESET_PASSWORD, user_id, request, now)
    problem = password_problem(password)
    if problem:
        refusal = Refused(422, "invalid", "the new password is not acceptable", problems={"password": problem})
        raise refuse(session, refusal, actor, f"user_{RESET_PASSWORD}", "user", user.username, request, now)
    assert isinstance(password, str)
    store.users.set_password(user, password)
    store.audit_log.record(session, actor.username, audit_action(f"user_{RESET_PASSWORD}"), "user", user.username,
                           at=now)
    session.flush()
    return user_row(user)


def get_user(session: Session, actor: Actor, user_id: Any) -> dict[str, Any] | None:
    """One user as the page shows it, or None (administrators only)."""
    check_admin(session, actor, "users_view", "user", str(user_id))
    user = store.users.get_user(session, user_id) if type(user_id) is int else None
    return None if user is None else user_row(user)
