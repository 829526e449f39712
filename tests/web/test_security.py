"""Security headers, CORS, rate limits, and what the settings allow."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from darkroom.bootstrap import ConfigError, Darkroom, build
from darkroom.errors import TooManyRequests
from darkroom.web.app import create_app
from darkroom.web.headers import HideSecrets, content_security_policy
from darkroom.web.ratelimit import RateLimits
from tests.web.signing_in import PASSWORD, local_settings, sign_up


def test_every_answer_carries_the_security_headers(local_client: TestClient) -> None:
    for path in ("/", "/config", "/photos", "/nope"):
        headers = local_client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


def test_cors_lets_in_only_the_listed_origins(tmp_path: Path) -> None:
    dr = build(local_settings(tmp_path, cors_origins="https://photos.example.org", workers=0))
    with TestClient(create_app(dr)) as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = client.options(
            "/auth/sign-in", headers={"Origin": "https://photos.example.org"} | preflight
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://photos.example.org"
        other = client.options("/auth/sign-in", headers={"Origin": "https://evil.test"} | preflight)
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_unless_asked(local_client: TestClient) -> None:
    answer = local_client.get("/config", headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in answer.headers


def test_sign_in_attempts_are_limited_per_client(tmp_path: Path) -> None:
    dr = build(local_settings(tmp_path, rate_sign_in=3, workers=0))
    wrong = {"email": "ann@example.org", "password": PASSWORD}
    with TestClient(create_app(dr)) as client:
        for _ in range(3):
            assert client.post("/auth/sign-in", json=wrong).status_code == 401
        limited = client.post("/auth/sign-in", json=wrong)
        assert limited.status_code == 429 and limited.json()["error"] == "too_many_requests"
        assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_listings_are_limited_per_address_and_per_user(tmp_path: Path) -> None:
    dr = build(local_settings(tmp_path, rate_listing=2, workers=0))
    with TestClient(create_app(dr)) as client:
        ann = sign_up(client, dr, "ann@example.org")
        assert client.get("/photos", headers=ann).status_code == 200
        assert client.get("/list", headers=ann).status_code == 200
        assert client.get("/photos", headers=ann).status_code == 429
        # Uploads count apart; nobody signed in is refused before anything is counted.
        assert client.post("/uploads", json={"content_type": "image/png"}, headers=ann).is_success
        assert client.get("/photos").status_code == 401
    limits = RateLimits({"listing": 1})
    limits.take("listing", "user:ann")
    limits.take("listing", "user:bob")
    with pytest.raises(TooManyRequests):
        limits.take("listing", "user:ann")


def test_without_sign_in_the_account_routes_are_404(memory_darkroom: Darkroom) -> None:
    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        answer = client.post("/auth/sign-in", json={"email": "a@b.org", "password": "x"})
        assert answer.status_code == 404
        assert client.get("/photos").status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"auth": "ldap://x"}, "DARKROOM_AUTH has scheme 'ldap'"),
        ({"auth": "local", "catalog": "dynamodb://photos", "secret": ""}, "DARKROOM_SECRET"),
        ({"auth": "cognito://us-east-1_abc"}, "client_id"),
    ],
)
def test_auth_settings_are_checked(tmp_path: Path, changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(local_settings(tmp_path, **changes))


def test_the_access_log_shows_no_signature_and_no_share_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/shared/eyJ.abc.def?x=1", "1.1", 200),
        None,
    )
    HideSecrets(("/shared",)).filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /shared/… HTTP/1.1" 200'
    record.args = ("127.0.0.1:5000", "GET", "/files/variants/a/b.jpg?signature=s3cret", "1.1", 200)
    HideSecrets(("/shared",)).filter(record)
    assert "s3cret" not in record.getMessage() and "/files/variants/a/b.jpg" in record.getMessage()


def test_the_policy_lets_in_the_stores_images_come_from() -> None:
    policy = content_security_policy(["https://b.s3.amazonaws.com", "https://b.s3.amazonaws.com"])
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["img-src"] == "'self' data: blob: https://b.s3.amazonaws.com"
    assert directives["connect-src"] == "'self' https://b.s3.amazonaws.com"
    assert directives["script-src"] == directives["style-src"] == "'self'"


@pytest.mark.parametrize("path", ["/metrics", "/admin", "/admin/stats"])
def test_operations_routes_answer_only_the_ops_token_when_sign_in_is_on(
    tmp_path: Path, path: str
) -> None:
    token = "ops-token-0123456789"
    dr = build(local_settings(tmp_path, metrics="prometheus", ops_token=token))
    try:
        with TestClient(create_app(dr)) as client:
            unknown = client.get("/no-such-route")
            user = sign_up(client, dr, "ann@example.org")
            for headers in ({}, user, {"Authorization": "Bearer ops-token-wrong"}):
                answer = client.get(path, headers=headers)
                assert (answer.status_code, answer.json()) == (404, unknown.json())
            assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        dr.stop_workers()


def test_operations_routes_stay_shut_without_an_ops_token(tmp_path: Path) -> None:
    dr = build(local_settings(tmp_path, metrics="prometheus"))
    try:
        with TestClient(create_app(dr)) as client:
            assert (
                client.get("/admin/stats", headers={"Authorization": "Bearer "}).status_code == 404
            )
            assert client.get("/metrics").status_code == 404
    finally:
        dr.stop_workers()
