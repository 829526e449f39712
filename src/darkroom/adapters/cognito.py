"""A Cognito user pool as darkroom's `Identity`: sign-up, sign-in and resets go to Cognito;
access tokens are checked here against the pool's JWKS (RS256), without a call to AWS.

`cognito://POOL_ID?client_id=…[&region=…][&endpoint_url=…][&jwks_url=…][&issuer=…]`. The
issuer and the JWKS URL are set apart because a local Cognito (moto) serves its keys at
`{endpoint_url}/{pool}/.well-known/jwks.json` but names the real AWS host as issuer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from darkroom.domain import Tokens
from darkroom.errors import (
    BadRequest,
    DarkroomError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from darkroom.passwords import candidates, normalised

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_WRONG = "wrong email or password"
_REFUSED = {
    "NotAuthorizedException": _WRONG,
    "UserNotFoundException": _WRONG,
    "UserNotConfirmedException": "confirm your email address first: enter the code from the mail",
    "CodeMismatchException": "the code is wrong",
    "ExpiredCodeException": "the code has expired: ask for a new one",
    "PasswordResetRequiredException": "the password must be reset: ask for a reset code",
}
_BAD_INPUT = ("InvalidPasswordException", "InvalidParameterException")
_THROTTLED = (
    "TooManyRequestsException",
    "LimitExceededException",
    "TooManyFailedAttemptsException",
)
"""Cognito's own limits on a user's attempts (codes asked for, codes tried) and on the
pool's request rate: the caller is to slow down, as with darkroom's own limits, not told
that a backend is away."""
_THROTTLED_WAIT = 60


class CognitoIdentity:
    def __init__(
        self,
        pool_id: str,
        client_id: str,
        region: str,
        *,
        endpoint_url: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        client: Any = None,
    ) -> None:
        self.pool_id = pool_id
        self.client_id = client_id
        self.region = region
        self.issuer = issuer or f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        where = f"{endpoint_url.rstrip('/')}/{pool_id}" if endpoint_url else self.issuer
        self.jwks_url = jwks_url or f"{where}/.well-known/jwks.json"
        self._endpoint = endpoint_url
        self._client = client
        self._keys: Any = None  # PyJWT's key client, made at the first token

    @classmethod
    def from_url(cls, url: str) -> CognitoIdentity:
        parts = urlsplit(url)
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        pool_id = parts.netloc
        if "_" not in pool_id or not options.get("client_id"):
            raise ValueError(
                "expected cognito://REGION_POOLID?client_id=APP_CLIENT_ID"
                "[&region=…&endpoint_url=…&jwks_url=…&issuer=…]"
            )
        return cls(
            pool_id,
            options["client_id"],
            options.get("region") or pool_id.split("_")[0],
            endpoint_url=options.get("endpoint_url"),
            jwks_url=options.get("jwks_url"),
            issuer=options.get("issuer"),
        )

    def sign_up(self, email: str, password: str) -> None:
        try:
            self._call(
                "sign_up",
                ClientId=self.client_id,
                Username=email.strip().lower(),
                Password=normalised(password),
                UserAttributes=[{"Name": "email", "Value": email.strip().lower()}],
            )
        except _Exists:
            log.info("sign-up for an address that has an account")

    def verify(self, email: str, code: str) -> None:
        self._call(
            "confirm_sign_up",
            ClientId=self.client_id,
            Username=email.strip().lower(),
            ConfirmationCode=code,
        )

    def sign_in(self, email: str, password: str) -> Tokens:
        """An account whose password was set as it was typed, before passwords were
        normalised, is signed in so, then given the normalised form as its password (Cognito
        keeps the hash: only a change can make it): from then on any keyboard signs it in
        at the first attempt, where each sign-in cost it an attempt Cognito counts."""
        username = email.strip().lower()

        def attempt(form: str) -> Tokens:
            auth = {"USERNAME": username, "PASSWORD": form}
            answer = self._call(
                "initiate_auth",
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters=auth,
            )
            return _tokens(answer, "")

        form, tokens = _first_taken(password, attempt)
        if form != normalised(password):
            try:
                self._call(
                    "change_password",
                    PreviousPassword=form,
                    ProposedPassword=normalised(password),
                    AccessToken=tokens.access_token,
                )
            except DarkroomError as error:  # the pool's policy, say: it signs in as before
                log.warning("a password set as typed is kept so: %s", error)
        return tokens

    def refresh(self, refresh_token: str) -> Tokens:
        answer = self._call(
            "initiate_auth",
            ClientId=self.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )
        return _tokens(answer, refresh_token)

    def sign_out(self, access_token: str) -> None:
        self.authenticate(access_token)
        self._call("global_sign_out", AccessToken=access_token)

    def forgot_password(self, email: str) -> None:
        try:
            self._call("forgot_password", ClientId=self.client_id, Username=email.strip().lower())
        except Unauthorized:
            log.info("password reset asked for an address without an account")

    def reset_password(self, email: str, code: str, password: str) -> None:
        self._call(
            "confirm_forgot_password",
            ClientId=self.client_id,
            Username=email.strip().lower(),
            ConfirmationCode=code,
            Password=normalised(password),
        )

    def change_password(self, access_token: str, old: str, new: str) -> None:
        """Then signs out everywhere, as darkroom's own accounts do (Cognito's change alone
        leaves every refresh token working)."""
        self.authenticate(access_token)
        _first_taken(
            old,
            lambda form: self._call(
                "change_password",
                PreviousPassword=form,
                ProposedPassword=normalised(new),
                AccessToken=access_token,
            ),
        )
        self._call("global_sign_out", AccessToken=access_token)

    def authenticate(self, access_token: str) -> str:
        """The token's `sub`, once its signature, issuer, expiry, use and client check out."""
        # imported here: a processing function only looks owners up (its cold start)
        import jwt

        if self._keys is None:
            self._keys = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=3600, timeout=10)
        try:
            key = self._keys.get_signing_key_from_jwt(access_token)
            claims = jwt.decode(
                access_token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.PyJWKClientConnectionError as error:
            raise Unavailable(f"the user pool's keys cannot be fetched: {error}") from None
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError):
            raise Unauthorized("the token is not valid") from None
        use, client = claims["token_use"], claims.get("client_id")
        if use != "access" or client != self.client_id:
            raise Unauthorized("the token is not an access token of this app")
        return str(claims["sub"])

    def owner_of(self, email: str) -> str:
        """The user's `sub`, as `authenticate` reports it (needs cognito-idp:AdminGetUser).
        Only a confirmed account (the pool sends the code to the address): anybody may sign
        up with an address, and photos given to an unconfirmed account would go to them."""
        try:
            answer = self._call(
                "admin_get_user", UserPoolId=self.pool_id, Username=email.strip().lower()
            )
        except Unauthorized:  # UserNotFoundException, as sign-in words it
            raise NotFound(f"no account has the address {email!r}") from None
        attributes = {a["Name"]: a["Value"] for a in answer.get("UserAttributes", [])}
        if answer.get("UserStatus") != "CONFIRMED":
            raise NotFound(f"the account of {email!r} has not confirmed its address")
        return str(attributes.get("sub") or answer["Username"])

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer: dict[str, Any] = getattr(self._cognito(), operation)(**params)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", code)
            if code == "UsernameExistsException":
                raise _Exists from None
            if code in _REFUSED:
                raise Unauthorized(_REFUSED[code]) from None
            if code in _BAD_INPUT:
                raise BadRequest(message) from None
            if code in _THROTTLED:
                raise TooManyRequests(
                    f"too many attempts: try again in {_THROTTLED_WAIT} s", _THROTTLED_WAIT
                ) from None
            raise Unavailable(f"Cognito refused {operation}: {code}") from None
        except BotoCoreError as error:
            raise Unavailable(f"Cognito is not answering: {type(error).__name__}") from None
        return answer

    def _cognito(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client(
                "cognito-idp", region_name=self.region, endpoint_url=self._endpoint
            )
        return self._client


def _first_taken(password: str, attempt: Callable[[str], _T]) -> tuple[str, _T]:
    """`attempt` with each form of `password` (`passwords.candidates`) until Cognito takes
    one as the account's password: that form, and what `attempt` returned."""
    *first, last = candidates(password)
    for form in first:
        try:
            return form, attempt(form)
        except Unauthorized as refused:
            if str(refused) != _WRONG:
                raise
    return last, attempt(last)


class _Exists(Exception):
    """Sign-up for a taken address: answered like any other sign-up."""


def _tokens(answer: dict[str, Any], refresh_token: str) -> Tokens:
    result = answer.get("AuthenticationResult")
    if not result:
        raise Unauthorized("Cognito asks for another step (a challenge) darkroom cannot take")
    return Tokens(
        access_token=result["AccessToken"],
        refresh_token=result.get("RefreshToken") or refresh_token,
        expires_in=int(result.get("ExpiresIn", 3600)),
    )
