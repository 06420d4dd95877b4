"""The repository of who may use `cairn serve`, under one name: users, passwords, the login
back-off and per-case grants with the access policy (store/accounts.py), API tokens
(store/tokens.py), browser sessions (store/sessions.py); each attempt to log in is recorded
by store/logins.py. Import from here or from the module itself: the names are the same."""

from cairn.store.accounts import (
    ALL_CASES_ROLES,
    CAPABILITIES,
    FREE_FAILURES,
    MAX_LOCK_S,
    MAX_PASSWORD,
    MIN_PASSWORD,
    ROLE_CAPS,
    ROLES,
    SCOPE_CAPS,
    SCOPES,
    USERS_CHAIN,
    Backoff,
    Login,
    Principal,
    User,
    UserError,
    add_user,
    case_visible,
    check_login,
    check_name,
    check_password,
    check_role,
    grant_case,
    grants,
    lock_seconds,
    new_password,
    parse_time,
    reset_password,
    revoke_case,
    set_disabled,
    store_now,
    user,
    users,
    visible_case_ids,
    visible_case_names,
)
from cairn.store.sessions import (
    SESSION_LIFETIME,
    check_csrf,
    create_session,
    csrf_for,
    end_session,
    principal_for_session,
)
from cairn.store.tokens import (
    LAST_USED_EVERY,
    PREFIX_SHOWN,
    TOKEN_PREFIX,
    Token,
    create_token,
    parse_expires,
    principal_for_token,
    revoke_token,
    tokens,
)

_lock_seconds, _parse = lock_seconds, parse_time  # the names tests/test_auth.py knows them by

__all__ = [
    "ALL_CASES_ROLES", "CAPABILITIES", "FREE_FAILURES", "LAST_USED_EVERY", "MAX_LOCK_S",
    "MAX_PASSWORD", "MIN_PASSWORD", "PREFIX_SHOWN", "ROLES", "ROLE_CAPS", "SCOPES",
    "SCOPE_CAPS", "SESSION_LIFETIME", "TOKEN_PREFIX", "USERS_CHAIN", "Backoff", "Login",
    "Principal", "Token", "User", "UserError", "add_user", "case_visible", "check_csrf",
    "check_login", "check_name", "check_password", "check_role", "create_session",
    "create_token", "csrf_for", "end_session", "grant_case", "grants", "lock_seconds",
    "new_password", "parse_expires", "parse_time", "principal_for_session",
    "principal_for_token", "reset_password", "revoke_case", "revoke_token", "set_disabled",
    "store_now", "tokens", "user", "users", "visible_case_ids", "visible_case_names",
]
