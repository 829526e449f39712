"""The authorization matrix: every route that reaches a photo, called by nobody, by the
owner, by another user, and with an expired or tampered token. Another user learns nothing:
their answers are the very answers for a photo that does not exist."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from darkroom.bootstrap import Darkroom
from darkroom.tokens import TokenCodec
from tests.corpus import corpus
from tests.tokens import tampered
from tests.web.signing_in import SECRET, sign_up

JPEG = "S01_canon_sd300_2mp.jpg"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None = None

    def call(
        self, client: TestClient, photo: dict[str, Any], headers: dict[str, str]
    ) -> httpx2.Response:
        path = self.path.format(**photo)
        return client.request(
            self.method, path, json=self.body, headers=headers, follow_redirects=False
        )


PHOTO_ROUTES = [
    Route("GET", "/photos/{id}"),
    Route("GET", "/photos/{id}/status"),
    Route("PATCH", "/photos/{id}", {"description": "mine now"}),
    Route("GET", "/photos/{id}/original"),
    Route("GET", "/photos/{id}/variants/thumb"),
    Route("POST", "/uploads/{id}/complete"),
    Route("GET", "/status?key={key}"),
    Route("GET", "/get?key={key}"),
    Route("POST", "/get", {"key": "{key}"}),
    Route("GET", "/thumbnails?key={key}"),
    Route("GET", "/photos/{id}/shares"),
    Route("POST", "/photos/{id}/shares", {}),
    Route("DELETE", "/photos/{id}/shares/{share}"),
    Route("POST", "/delete", {"key": "{key}"}),
    Route("DELETE", "/photos/{id}"),
]
"""Deleting ones last: the owner's calls run in this order."""
OTHER_ROUTES = [
    Route("GET", "/photos"),
    Route("GET", "/photos/status?ids={id}"),
    Route("GET", "/list"),
    Route("POST", "/upload", {"content": base64.b64encode(b"GIF89a").decode()}),
    Route("POST", "/uploads", {"content_type": "image/jpeg"}),
    Route("POST", "/auth/sign-out"),
    Route("POST", "/auth/change-password", {"old_password": "a", "new_password": "b" * 10}),
]


def _with_keys(route: Route, photo: dict[str, Any]) -> Route:
    body = (
        None if route.body is None else {k: str(v).format(**photo) for k, v in route.body.items()}
    )
    return Route(route.method, route.path, body)


@pytest.fixture
def world(local_client: TestClient, local_darkroom: Darkroom) -> dict[str, Any]:
    """Ann owns a processed photo shared once; Bob has an account and no photos."""
    ann = sign_up(local_client, local_darkroom, "ann@example.org")
    bob = sign_up(local_client, local_darkroom, "bob@example.org")
    uploaded = local_client.post(
        "/upload", json={"content": base64.b64encode(corpus(JPEG)).decode()}, headers=ann
    )
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()
    share = local_client.post(f"/photos/{photo['id']}/shares", json={}, headers=ann).json()
    codec = TokenCodec(SECRET.encode())
    ann_id = local_darkroom.gallery.get(None, photo["id"]).owner
    token = ann["Authorization"].removeprefix("Bearer ")
    return {
        "ann": ann,
        "bob": bob,
        "photo": {"id": photo["id"], "key": photo["key"], "share": share["id"]},
        "share_url": "/shared/" + share["url"].split("#shared=", 1)[1],
        "expired": {"Authorization": f"Bearer {codec.issue('access', ann_id, -60, ses=0)}"},
        "tampered": {"Authorization": f"Bearer {tampered(token)}"},
        "refresh_as_access": {"Authorization": f"Bearer {codec.issue('refresh', ann_id, 60)}"},
    }


@pytest.mark.parametrize("caller", ["anonymous", "expired", "tampered", "refresh_as_access"])
def test_without_a_valid_token_every_route_is_401(
    local_client: TestClient, world: dict[str, Any], caller: str
) -> None:
    headers = {} if caller == "anonymous" else world[caller]
    for route in PHOTO_ROUTES + OTHER_ROUTES:
        answer = _with_keys(route, world["photo"]).call(local_client, world["photo"], headers)
        assert answer.status_code == 401, (route, answer.text)
        assert answer.json()["error"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"


def test_another_user_learns_nothing_and_changes_nothing(
    local_client: TestClient, world: dict[str, Any]
) -> None:
    photo, ann, bob = world["photo"], world["ann"], world["bob"]
    seen = []
    for route in PHOTO_ROUTES:
        answer = _with_keys(route, photo).call(local_client, photo, bob)
        assert answer.status_code == 404, (route, answer.text)
        seen.append(answer.json())
    assert local_client.get("/photos", headers=bob).json()["items"] == []
    batch = {"items": [], "missing": [photo["id"]]}
    assert local_client.get(f"/photos/status?ids={photo['id']}", headers=bob).json() == batch
    assert local_client.get("/list", headers=bob).json() == []
    # Ann's photo is untouched, then gone: Bob's answers for it are those of a missing one.
    mine = local_client.get(f"/photos/{photo['id']}", headers=ann).json()
    assert mine["description"] == "" and len(local_client.get("/list", headers=ann).json()) == 1
    assert local_client.delete(f"/photos/{photo['id']}", headers=ann).status_code == 204
    for route, before in zip(PHOTO_ROUTES, seen, strict=True):
        answer = _with_keys(route, photo).call(local_client, photo, bob)
        assert (answer.status_code, answer.json()) == (404, before), route


def test_the_owner_may_do_everything(local_client: TestClient, world: dict[str, Any]) -> None:
    photo, ann = world["photo"], world["ann"]
    for route in [r for r in PHOTO_ROUTES if r.path != "/delete"]:
        answer = _with_keys(route, photo).call(local_client, photo, ann)
        assert answer.status_code in (200, 201, 204, 307), (route, answer.text)
    assert local_client.get("/list", headers=ann).json() == []


def test_a_share_link_shows_one_photo_to_anyone_until_revoked(
    local_client: TestClient, world: dict[str, Any]
) -> None:
    photo, ann = world["photo"], world["ann"]
    shared = local_client.get(world["share_url"])
    assert shared.status_code == 200, shared.text
    assert set(shared.json()) == {
        "filename",
        "description",
        "width",
        "height",
        "created_at",
        "variants",
    }
    thumb = local_client.get(shared.json()["variants"]["thumb"]["url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    forged = tampered(world["share_url"])
    assert local_client.get(forged).status_code == 404
    path = f"/photos/{photo['id']}/shares/{photo['share']}"
    assert local_client.delete(path, headers=ann).status_code == 204
    gone = local_client.get(world["share_url"])
    assert gone.status_code == 404 and gone.json() == local_client.get(forged).json()
