"""The same field over its limit gets the same answer from every route that takes it."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import httpx2
import pytest
from fastapi.testclient import TestClient

from darkroom.bootstrap import Darkroom
from darkroom.web.app import create_app
from tests.corpus import corpus

JPEG = corpus("S01_canon_sd300_2mp.jpg")
Send = Callable[[TestClient, str, str], httpx2.Response]


@pytest.fixture
def client(memory_darkroom: Darkroom) -> Iterator[TestClient]:
    with TestClient(create_app(memory_darkroom, run_workers=False)) as client:
        yield client


def _multipart(client: TestClient, filename: str, description: str) -> httpx2.Response:
    return client.post(
        "/upload?wait=false",
        files={"file": (filename, JPEG, "image/jpeg")},
        data={"description": description},
    )


def _json(client: TestClient, filename: str, description: str) -> httpx2.Response:
    content = base64.b64encode(JPEG).decode()
    body = {"content": content, "filename": filename, "description": description}
    return client.post("/upload?wait=false", json=body)


def _presigned(client: TestClient, filename: str, description: str) -> httpx2.Response:
    body = {"filename": filename, "content_type": "image/jpeg", "description": description}
    return client.post("/uploads", json=body)


def _patch(client: TestClient, filename: str, description: str) -> httpx2.Response:
    photo = _presigned(client, filename, "")
    assert photo.status_code == 201, photo.text
    return client.patch(f"/photos/{photo.json()['id']}", json={"description": description})


UPLOADS = [_multipart, _json, _presigned]


@pytest.mark.parametrize("send", UPLOADS)
@pytest.mark.parametrize("length", [1025, 5000])
def test_a_file_name_over_the_limit_is_a_400_naming_it(
    client: TestClient, send: Send, length: int
) -> None:
    answer = send(client, "n" * (length - 4) + ".jpg", "")
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": "bad_request",
        "message": "filename: String should have at most 1024 characters",
    }


@pytest.mark.parametrize("send", [*UPLOADS, _patch])
def test_a_description_over_the_limit_is_a_400_naming_it(client: TestClient, send: Send) -> None:
    limit = client.get("/config").json()["max_description"]
    answer = send(client, "a.jpg", "d" * (limit + 1))
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": "bad_request",
        "message": f"description: String should have at most {limit} characters",
    }


@pytest.mark.parametrize("send", [*UPLOADS, _patch])
def test_a_name_and_description_at_their_limits_are_kept_whole(
    client: TestClient, send: Send
) -> None:
    limit = client.get("/config").json()["max_description"]
    answer = send(client, "ü" * 1020 + ".jpg", "d" * limit)
    assert answer.status_code in (200, 201, 202), answer.text
    photo_id = answer.json()["id"]
    assert client.get(f"/photos/{photo_id}").json()["description"] == "d" * limit


@pytest.mark.parametrize("send", [*UPLOADS, _patch])
def test_line_breaks_sent_as_crlf_count_as_one_character(client: TestClient, send: Send) -> None:
    """A form's text is sent with CRLF line breaks (HTML's form encoding, a Windows file
    given to `curl -F`); darkroom keeps them as LF, one character each. Counted as two, a
    description within the limit once kept was refused."""
    limit = client.get("/config").json()["max_description"]
    lines = limit * 3 // 10  # over the limit with CRLF, within it with LF
    answer = send(client, "a.jpg", "ab\r\n" * lines)
    assert answer.status_code in (200, 201, 202), answer.text
    photo_id = answer.json()["id"]
    assert client.get(f"/photos/{photo_id}").json()["description"] == "\n".join(["ab"] * lines)
