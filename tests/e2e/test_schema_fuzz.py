"""schemathesis against the OpenAPI schema of the real server, signed in (DARKROOM_AUTH=local):
no answer may be a 5xx, and every answer must match the schema (status, type, body,
headers). Bounded to a few examples per operation so it stays a couple of minutes at most."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.corpus import corpus
from tests.e2e.conftest import Server
from tests.receivers import smtp_server
from tests.web.signing_in import PASSWORD, link_token

pytestmark = pytest.mark.e2e
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
KEEPS_THE_SESSION = {"/auth/sign-out", "/auth/change-password"}
"""Sent without the token: signing out (or a lucky password change) would end the run's
session, and every later case would only test the 401."""


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    data: Path = tmp_path_factory.mktemp("fuzz") / "data"
    with smtp_server() as inbox:
        server = Server(data)
        server.env = {
            "DARKROOM_AUTH": "local",
            "DARKROOM_MAIL": f"smtp://127.0.0.1:{inbox.port}",
            "DARKROOM_PUBLIC_URL": server.url,
            "DARKROOM_RATE_SIGN_IN": "0",
            "DARKROOM_RATE_UPLOAD": "0",
            "DARKROOM_RATE_LISTING": "0",
            "DARKROOM_WAIT_TIMEOUT": "5",
        }
        server.start()
        try:
            yield server, _sign_in(server, inbox.messages)
        finally:
            server.stop()


def _sign_in(server: Server, messages: list[Any]) -> str:
    credentials = {"email": "fuzz@example.org", "password": PASSWORD}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.post("/auth/sign-up", json=credentials).raise_for_status()
        code = link_token(messages[-1].get_payload(decode=True).decode(), "verify")
        client.post("/auth/verify", json={"code": code}).raise_for_status()
        tokens = client.post("/auth/sign-in", json=credentials)
        token: str = tokens.raise_for_status().json()["access_token"]
        photo = {"content": base64.b64encode(corpus("S01_canon_sd300_2mp.jpg")).decode()}
        upload = client.post("/upload", json=photo, headers={"Authorization": f"Bearer {token}"})
        upload.raise_for_status()
    return token


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    run()


def test_the_api_keeps_to_its_schema(signed_in: tuple[Server, str]) -> None:
    server, token = signed_in
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) > 20
    failures: list[str] = []
    for operation in operations:
        auth = {} if operation.path in KEEPS_THE_SESSION else {"Authorization": f"Bearer {token}"}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, server.url, auth)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to negate
            except Exception as failure:  # each one is reported at the end
                failures.append(f"{operation.label} ({mode}): {failure}"[:3000])
    assert not failures, "\n\n".join(failures)
