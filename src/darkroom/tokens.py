"""darkroom's own tokens (JWT, HS256): access, refresh, e-mail verification, password reset.

Their key is derived from DARKROOM_SECRET, apart from the key of the signed URLs, so that
neither kind can stand in for the other.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Literal

import jwt

from darkroom.errors import Unauthorized

Kind = Literal["access", "refresh", "verify", "reset", "share"]
ISSUER = "darkroom"


class TokenCodec:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"darkroom tokens v1", hashlib.sha256).digest()

    def issue(self, kind: Kind, subject: str, ttl: int, **claims: str | int) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "typ": kind, "sub": subject, "iat": now, "exp": now + ttl}
        return jwt.encode(payload | claims, self._key, algorithm="HS256")

    def read(self, token: str, kind: Kind) -> dict[str, Any]:
        """The claims of a token of this kind that is untampered and unexpired."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("the token is not valid") from None
        if claims["typ"] != kind:
            raise Unauthorized("the token is not valid here")
        return claims
