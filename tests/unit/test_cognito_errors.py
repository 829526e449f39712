"""What Cognito's refusals become, with a client that refuses as Cognito does (moto's
Cognito never throttles nor asks for a reset)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from darkroom.adapters.cognito import CognitoIdentity
from darkroom.errors import DarkroomError, TooManyRequests, Unauthorized


class Refusing:
    """Every operation fails with `code`, as boto3 raises Cognito's errors."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, operation: str) -> Any:
        def call(**params: Any) -> None:
            error = {"Error": {"Code": self.code, "Message": "Attempt limit exceeded"}}
            raise ClientError(error, operation)  # type: ignore[arg-type]

        return call


def _identity(code: str) -> CognitoIdentity:
    return CognitoIdentity("eu-west-1_pool", "client", "eu-west-1", client=Refusing(code))


@pytest.mark.parametrize(
    "code", ["TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"]
)
def test_cognitos_limits_ask_the_caller_to_wait(code: str) -> None:
    identity = _identity(code)
    for attempt in (
        lambda: identity.sign_in("ann@example.org", "Pool password 1"),
        lambda: identity.forgot_password("ann@example.org"),
        lambda: identity.verify("ann@example.org", "123456"),
        lambda: identity.reset_password("ann@example.org", "123456", "Pool password 2"),
    ):
        with pytest.raises(TooManyRequests) as refused:
            attempt()
        assert refused.value.retry_after > 0


def test_a_password_to_reset_is_said_so_at_sign_in() -> None:
    with pytest.raises(Unauthorized, match="reset"):
        _identity("PasswordResetRequiredException").sign_in("ann@example.org", "Pool password 1")


def test_cognito_away_is_still_unavailable() -> None:
    with pytest.raises(DarkroomError) as refused:
        _identity("InternalErrorException").sign_in("ann@example.org", "Pool password 1")
    assert refused.value.code == "unavailable"
