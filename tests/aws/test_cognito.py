"""Sign-in through a Cognito user pool on moto's server: the pool's own flows, and the API
checking Cognito's RS256 access tokens against the pool's JWKS."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient

from darkroom.adapters.cognito import CognitoIdentity
from darkroom.bootstrap import build
from darkroom.errors import NotFound, Unauthorized
from darkroom.web.app import create_app
from tests.aws.servers import (
    MOTO_KEY,
    MOTO_SECRET,
    REGION,
    aws_client,
    moto_endpoint,
    new_user_pool,
)
from tests.corpus import corpus
from tests.tokens import tampered
from tests.web.signing_in import local_settings

PASSWORD = "Pool password 1"


@pytest.fixture
def pool_url(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MOTO_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MOTO_SECRET)
    pool_id, client_id = new_user_pool()
    return f"cognito://{pool_id}?client_id={client_id}&endpoint_url={moto_endpoint()}"


@pytest.fixture
def identity(pool_url: str) -> CognitoIdentity:
    return CognitoIdentity.from_url(pool_url)


def _signed_up(identity: CognitoIdentity, email: str) -> str:
    identity.sign_up(email, PASSWORD)
    identity.verify(email, "123456")
    return identity.sign_in(email, PASSWORD).access_token


def test_the_pool_signs_people_up_and_in(identity: CognitoIdentity) -> None:
    assert identity.jwks_url == f"{moto_endpoint()}/{identity.pool_id}/.well-known/jwks.json"
    assert identity.issuer.startswith(f"https://cognito-idp.{REGION}.amazonaws.com/")
    identity.sign_up("ann@example.org", PASSWORD)
    identity.sign_up("ann@example.org", PASSWORD)
    with pytest.raises(Unauthorized, match="confirm"):
        identity.sign_in("ann@example.org", PASSWORD)
    identity.verify("ann@example.org", "123456")
    tokens = identity.sign_in("ann@example.org", PASSWORD)
    owner = identity.authenticate(tokens.access_token)
    assert identity.authenticate(identity.refresh(tokens.refresh_token).access_token) == owner
    with pytest.raises(Unauthorized, match="wrong email or password"):
        identity.sign_in("ann@example.org", "not the password 1")
    with pytest.raises(Unauthorized, match="wrong email or password"):
        identity.sign_in("nobody@example.org", PASSWORD)
    identity.forgot_password("nobody@example.org")
    identity.forgot_password("ann@example.org")
    identity.reset_password("ann@example.org", "654321", "New pool password 2")
    tokens = identity.sign_in("ann@example.org", "New pool password 2")
    identity.change_password(tokens.access_token, "New pool password 2", "Third password 3")
    with pytest.raises(Unauthorized):  # a new password signs out everywhere
        identity.refresh(tokens.refresh_token)
    identity.sign_in("ann@example.org", "Third password 3")


def test_only_this_clients_untampered_access_tokens_pass(identity: CognitoIdentity) -> None:
    token = _signed_up(identity, "bob@example.org")
    head, _, signature = token.split(".")
    for bad in (
        tampered(token),
        f"{head}.{base64.urlsafe_b64encode(b'{}').decode().rstrip('=')}.{signature}",
        "not a token",
    ):
        with pytest.raises(Unauthorized):
            identity.authenticate(bad)
    other_pool, other_client = new_user_pool()
    stranger = CognitoIdentity(
        other_pool, other_client, REGION, endpoint_url=moto_endpoint(), client=identity._cognito()
    )
    with pytest.raises(Unauthorized):
        stranger.authenticate(token)
    with pytest.raises(Unauthorized):
        CognitoIdentity(
            identity.pool_id, "another-client", REGION, endpoint_url=moto_endpoint()
        ).authenticate(token)


@pytest.fixture
def api(pool_url: str, tmp_path: Path) -> Iterator[TestClient]:
    dr = build(local_settings(tmp_path, auth=pool_url))
    with TestClient(create_app(dr)) as client:
        yield client
    dr.stop_workers()


def _sign_in(api: TestClient, email: str) -> dict[str, str]:
    credentials = {"email": email, "password": PASSWORD}
    assert api.post("/auth/sign-up", json=credentials).status_code == 202
    assert api.post("/auth/verify", json={"email": email, "code": "123456"}).status_code == 200
    tokens: dict[str, Any] = api.post("/auth/sign-in", json=credentials).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_the_api_scopes_photos_to_cognito_users(api: TestClient) -> None:
    assert api.get("/config").json()["auth"]["mode"] == "cognito"
    ann, bob = _sign_in(api, "ann@example.org"), _sign_in(api, "bob@example.org")
    content = base64.b64encode(corpus("S01_canon_sd300_2mp.jpg")).decode()
    photo = api.post("/upload", json={"content": content}, headers=ann).json()
    assert api.get(f"/photos/{photo['id']}", headers=ann).status_code == 200
    assert api.get(f"/photos/{photo['id']}", headers=bob).status_code == 404
    assert api.get("/list", headers=bob).json() == []
    assert api.get("/list").status_code == 401


def test_the_operator_finds_an_owner_by_address(identity: CognitoIdentity) -> None:
    owner = identity.authenticate(_signed_up(identity, "Bea@Example.org"))
    assert identity.owner_of("bea@example.org") == owner
    assert identity.owner_of(" BEA@example.org ") == owner
    with pytest.raises(NotFound):
        identity.owner_of("nobody@example.org")
    identity.sign_up("cy@example.org", PASSWORD)  # by anybody: the code goes to the address
    with pytest.raises(NotFound, match="not confirmed"):
        identity.owner_of("cy@example.org")


COMPOSED = "Café crème 1"  # "é" and "è" as one code point each (NFC)
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # a letter, then its combining accent


def _takes(identity: CognitoIdentity, email: str, password: str) -> bool:
    """Whether the pool itself signs `email` in with `password`, sent as it is."""
    try:
        aws_client("cognito-idp", moto_endpoint()).initiate_auth(
            ClientId=identity.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
    except ClientError:
        return False
    return True


def test_the_pool_is_sent_passwords_normalised(identity: CognitoIdentity) -> None:
    """Typed on another keyboard, "é" comes as "e" and a combining accent: the pool, which
    compares what it is sent, refused it."""
    identity.sign_up("ann@example.org", COMPOSED)
    identity.verify("ann@example.org", "123456")
    tokens = identity.sign_in("ann@example.org", DECOMPOSED)
    assert _takes(identity, "ann@example.org", unicodedata.normalize("NFKC", COMPOSED))
    identity.change_password(tokens.access_token, DECOMPOSED, "Ｎｅｗ ｃａｆé 2")
    identity.sign_in("ann@example.org", "New café 2")
    identity.forgot_password("ann@example.org")
    identity.reset_password("ann@example.org", "654321", "Third cafe\u0301 3")
    identity.sign_in("ann@example.org", "Third café 3")


def test_an_account_whose_password_the_pool_got_as_typed_is_moved_to_the_normalised_form(
    identity: CognitoIdentity,
) -> None:
    """Accounts made before passwords were normalised: the pool holds the password as it
    was typed. Signed in so, the account is given the normalised form, so that any keyboard
    signs it in at the first attempt from then on."""
    cognito = aws_client("cognito-idp", moto_endpoint())
    cognito.sign_up(ClientId=identity.client_id, Username="bob@example.org", Password=DECOMPOSED)
    cognito.admin_confirm_sign_up(UserPoolId=identity.pool_id, Username="bob@example.org")
    tokens = identity.sign_in("bob@example.org", DECOMPOSED)
    assert not _takes(identity, "bob@example.org", DECOMPOSED)
    assert _takes(identity, "bob@example.org", COMPOSED)
    identity.sign_in("bob@example.org", COMPOSED)

    cognito.admin_set_user_password(
        UserPoolId=identity.pool_id, Username="bob@example.org", Password=DECOMPOSED, Permanent=True
    )
    identity.change_password(tokens.access_token, DECOMPOSED, "Another one 4")
    identity.sign_in("bob@example.org", "Another one 4")
