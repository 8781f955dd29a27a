"""The console's login: an API access key (`dms api keys create`) opens a session, kept in an HMAC-signed
cookie that scripts cannot read (HttpOnly) and other sites cannot send (SameSite=Strict).

The signing key is made when the console starts and never stored: restarting `dms api` ends every
session, and a stolen cookie dies with the process or after SESSION_SECONDS, whichever comes first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie

COOKIE = "dms_console"
SESSION_SECONDS = 12 * 3600

SecretLookup = Callable[[str], "str | None"]


def _default_lookup(key_id: str) -> str | None:
    from scheduler.api.keys import secret_for

    return secret_for(key_id)


class Sessions:
    def __init__(self, secret_for: SecretLookup | None = None) -> None:
        self._key = secrets.token_bytes(32)
        self._secret_for = secret_for or _default_lookup

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def login(self, key_id: str, secret: str) -> str | None:
        """The Set-Cookie value of a new session, or None when the key id or its secret is wrong."""
        stored = self._secret_for(key_id) if key_id else None
        # compare_digest either way, so a wrong id takes as long to refuse as a wrong secret
        if not hmac.compare_digest((stored or "\0").encode(), secret.encode()) or stored is None:
            return None
        payload = f"{key_id}.{int(time.time()) + SESSION_SECONDS}"
        return self._cookie(f"{payload}.{self._sign(payload)}", SESSION_SECONDS)

    @staticmethod
    def _cookie(value: str, max_age: int) -> str:
        return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"

    def logout(self) -> str:
        return self._cookie("", 0)

    def who(self, cookie_header: str) -> str | None:
        """The access key id of the request's session; None for none, a forged one or an expired one."""
        try:
            morsel = SimpleCookie(cookie_header).get(COOKIE)
        except CookieError:
            return None
        if morsel is None:
            return None
        payload, _, signature = morsel.value.rpartition(".")
        key_id, _, expires = payload.rpartition(".")
        if not key_id or not hmac.compare_digest(self._sign(payload), signature):
            return None
        return key_id if expires.isdigit() and int(expires) > time.time() else None
