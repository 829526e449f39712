"""Uploads that wait for a worker running elsewhere (DARKROOM_WORKERS=0): the rest of the API
answers meanwhile, and each upload still ends as it would have."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest
from anyio.to_thread import current_default_thread_limiter
from PIL import Image

from darkroom.bootstrap import Darkroom
from darkroom.domain import PhotoStatus
from darkroom.web.app import create_app


def _on_a_loop_of_its_own(scenario: Callable[[Darkroom], Awaitable[None]], dr: Darkroom) -> None:
    """`scenario` run to its end on an event loop in a thread of its own: in the whole suite,
    the browser tests' Playwright leaves the main thread marked as running a loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, scenario, dr).result()


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (shade, 90, 30)).save(out, "PNG")
    return out.getvalue()


async def _presigned(client: httpx.AsyncClient, data: bytes) -> httpx.Response:
    ticket = (await client.post("/uploads", json={"content_type": "image/png"})).json()
    put = await client.put(ticket["url"], content=data, headers=ticket["headers"])
    assert put.status_code == 200, put.text
    return await client.post(ticket["complete_url"])


@pytest.mark.timeout(60)  # before the fix the health check waited for the uploads' timeout
def test_waiting_uploads_leave_threads_for_every_other_request(memory_darkroom: Darkroom) -> None:
    _on_a_loop_of_its_own(_waiting_uploads, memory_darkroom)


async def _waiting_uploads(dr: Darkroom) -> None:
    dr.settings.wait_timeout = 120
    # One waiter more than the thread pool has threads: if each held one, none would be left.
    waiters = int(current_default_thread_limiter().total_tokens) + 1
    answers: dict[int, httpx.Response] = {}
    transport = httpx.ASGITransport(create_app(dr, run_workers=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://gallery.test") as client:

        async def upload(index: int) -> None:
            data = _png(index)
            if index % 2:
                answers[index] = await _presigned(client, data)
            else:
                answers[index] = await client.post("/upload", files={"file": ("a.png", data)})

        async with anyio.create_task_group() as uploads:
            for index in range(waiters):
                uploads.start_soon(upload, index)
            while [p.status for p in dr.catalog.every()] != [PhotoStatus.PENDING] * waiters:
                await anyio.sleep(0.01)
            health = await client.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert answers == {}, "no worker runs: every upload is still waiting"
            assert await anyio.to_thread.run_sync(dr.worker().drain) == waiters

    statuses = [answers[i].status_code for i in range(waiters)]
    assert statuses == [200 if i % 2 else 201 for i in range(waiters)]
    assert all(a.json()["status"] == "ready" for a in answers.values())


def test_a_wait_that_runs_out_answers_202_and_a_failure_422(memory_darkroom: Darkroom) -> None:
    _on_a_loop_of_its_own(_running_out, memory_darkroom)


async def _running_out(memory_darkroom: Darkroom) -> None:
    memory_darkroom.settings.wait_timeout = 0.05
    transport = httpx.ASGITransport(create_app(memory_darkroom, run_workers=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://gallery.test") as client:
        pending = await client.post("/upload", files={"file": ("a.png", _png(1))})
        assert pending.status_code == 202 and pending.json()["status"] == "pending"
        broken = await _presigned(client, _png(2)[:40])
        assert broken.status_code == 202
        memory_darkroom.settings.wait_timeout = 3600
        async with anyio.create_task_group() as tasks:
            answers: list[httpx.Response] = []

            async def complete() -> None:
                answers.append(await client.post(f"/uploads/{broken.json()['id']}/complete"))

            tasks.start_soon(complete)
            await anyio.to_thread.run_sync(memory_darkroom.worker().drain)
    (failed,) = answers
    assert failed.status_code == 422 and failed.json()["photo"]["status"] == "failed"
    assert failed.json()["message"]
