"""`/auth/…`: sign up, verify, sign in, refresh, sign out, reset and change the password.

With DARKROOM_AUTH=none there is nobody to sign in: every route answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from darkroom.domain import Tokens
from darkroom.errors import NotFound, Unauthorized
from darkroom.ports import Identity
from darkroom.web.deps import Bearer, darkroom
from darkroom.web.ratelimit import limited
from darkroom.web.schemas import ErrorOut

router = APIRouter(prefix="/auth", tags=["accounts"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 422, 429, 503)
}
_SIGN_IN_RATE = [Depends(limited("sign_in"))]
Email = Annotated[str, Field(min_length=3, max_length=320)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Code = Annotated[str, Field(min_length=1, max_length=4096)]


class Credentials(BaseModel):
    email: Email
    password: Password


class VerifyRequest(BaseModel):
    email: str = Field("", max_length=320, description="Needed with Cognito; not with local.")
    code: Code = Field(description="The code from the mail, or the token of its link.")


class RefreshRequest(BaseModel):
    refresh_token: Code


class ForgotRequest(BaseModel):
    email: Email


class ResetRequest(BaseModel):
    email: str = Field("", max_length=320, description="Needed with Cognito; not with local.")
    code: Code = Field(description="The code from the mail, or the token of its link.")
    password: Password


class ChangeRequest(BaseModel):
    old_password: Password
    new_password: Password


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds the access token lives.")


class Done(BaseModel):
    status: str


def identity(request: Request) -> Identity:
    found = darkroom(request).identity
    if found is None:
        raise NotFound("this darkroom has no sign-in (DARKROOM_AUTH=none)")
    return found


IdentityDep = Annotated[Identity, Depends(identity)]


def _out(tokens: Tokens) -> TokensOut:
    return TokensOut(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
    )


def _token(credentials: Bearer) -> str:
    if credentials is None:
        raise Unauthorized("sign in first, then send Authorization: Bearer ACCESS_TOKEN")
    return credentials.credentials


@router.post(
    "/sign-up",
    status_code=202,
    response_model=Done,
    responses=ERRORS,
    dependencies=_SIGN_IN_RATE,
    summary="Create an account; a mail with a verification link (or code) follows",
)
async def sign_up(body: Credentials, ids: IdentityDep) -> Done:
    await run_in_threadpool(ids.sign_up, body.email, body.password)
    return Done(status="check your mail")


@router.post("/verify", response_model=Done, responses=ERRORS, dependencies=_SIGN_IN_RATE)
async def verify(body: VerifyRequest, ids: IdentityDep) -> Done:
    await run_in_threadpool(ids.verify, body.email, body.code)
    return Done(status="verified")


@router.post("/sign-in", response_model=TokensOut, responses=ERRORS, dependencies=_SIGN_IN_RATE)
async def sign_in(body: Credentials, ids: IdentityDep) -> TokensOut:
    return _out(await run_in_threadpool(ids.sign_in, body.email, body.password))


@router.post("/refresh", response_model=TokensOut, responses=ERRORS, dependencies=_SIGN_IN_RATE)
async def refresh(body: RefreshRequest, ids: IdentityDep) -> TokensOut:
    return _out(await run_in_threadpool(ids.refresh, body.refresh_token))


@router.post(
    "/sign-out",
    status_code=204,
    responses=ERRORS,
    summary="Revoke every token of the caller's account",
)
async def sign_out(ids: IdentityDep, credentials: Bearer) -> Response:
    await run_in_threadpool(ids.sign_out, _token(credentials))
    return Response(status_code=204)


@router.post(
    "/forgot-password",
    status_code=202,
    response_model=Done,
    responses=ERRORS,
    dependencies=_SIGN_IN_RATE,
    summary="Mail a reset link (or code) if the address has an account",
)
async def forgot_password(body: ForgotRequest, ids: IdentityDep) -> Done:
    await run_in_threadpool(ids.forgot_password, body.email)
    return Done(status="check your mail")


@router.post("/reset-password", response_model=Done, responses=ERRORS, dependencies=_SIGN_IN_RATE)
async def reset_password(body: ResetRequest, ids: IdentityDep) -> Done:
    await run_in_threadpool(ids.reset_password, body.email, body.code, body.password)
    return Done(status="password changed: sign in again")


@router.post(
    "/change-password",
    response_model=Done,
    responses=ERRORS,
    dependencies=_SIGN_IN_RATE,
    summary="Change the password; every session of the account ends",
)
async def change_password(body: ChangeRequest, ids: IdentityDep, credentials: Bearer) -> Done:
    await run_in_threadpool(
        ids.change_password, _token(credentials), body.old_password, body.new_password
    )
    return Done(status="password changed: sign in again")
