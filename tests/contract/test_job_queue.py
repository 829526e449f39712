"""The JobQueue contract, over the memory queue and the SQL queue on every backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from darkroom.adapters.local_queue import MAX_ERROR_LENGTH, LocalJobQueue
from darkroom.adapters.memory import MemoryJobQueue
from darkroom.adapters.sql import SqlDatabase
from darkroom.domain import PROCESS, Job, JobState
from darkroom.errors import NotFound
from darkroom.ports import JobQueue

ALL_STATES = frozenset(JobState)


@pytest.fixture
def queue(database: SqlDatabase | None) -> JobQueue:
    return MemoryJobQueue() if database is None else LocalJobQueue(database)


def make(job_id: str, due_in: float = -60.0, photo_id: str = "p1") -> Job:
    now = datetime.now(UTC)
    return Job(job_id, photo_id, now, now + timedelta(seconds=due_in))


def claim_all(queue: JobQueue, worker: str) -> list[str]:
    claimed: list[str] = []
    while (job := queue.claim(worker, 60)) is not None:
        claimed.append(job.id)
    return claimed


def test_due_jobs_are_claimed_in_run_at_order(queue: JobQueue) -> None:
    now = datetime.now(UTC)
    for job_id, due_in in (("b", -10), ("c", -30), ("a", -10)):
        queue.enqueue(Job(job_id, "p1", now, now + timedelta(seconds=due_in)))
    job = queue.claim("w1", 60)
    assert job is not None
    assert (job.id, job.photo_id, job.state, job.attempts) == ("c", "p1", JobState.RUNNING, 1)
    assert claim_all(queue, "w1") == ["a", "b"]
    assert queue.claim("w1", 60) is None


def test_nothing_due_gives_none(queue: JobQueue) -> None:
    assert queue.claim("w1", 60) is None
    queue.enqueue(make("later", due_in=3600))
    assert queue.claim("w1", 60) is None
    assert [j.id for j in queue.jobs(frozenset({JobState.QUEUED}))] == ["later"]


def test_an_expired_lease_lets_another_worker_claim(queue: JobQueue) -> None:
    queue.enqueue(make("j1"))
    # A lease long enough that a slow backend still answers the next claim inside it.
    first = queue.claim("w1", 1.0)
    assert first is not None and first.attempts == 1
    assert queue.claim("w2", 60) is None
    time.sleep(1.5)
    second = queue.claim("w2", 60)
    assert second is not None and second.id == "j1" and second.attempts == 2
    assert queue.claim("w3", 60) is None


def test_completed_jobs_are_done(queue: JobQueue) -> None:
    queue.enqueue(make("j1"))
    queue.claim("w1", 0.05)
    queue.complete("j1")
    queue.complete("unknown")
    time.sleep(0.1)
    assert queue.claim("w1", 60) is None
    assert [(j.id, j.state) for j in queue.jobs(ALL_STATES)] == [("j1", JobState.DONE)]


def test_a_failed_job_is_due_again_at_retry_at(queue: JobQueue) -> None:
    queue.enqueue(make("j1"))
    queue.enqueue(make("j2"))
    queue.claim("w1", 60)
    queue.claim("w1", 60)
    queue.fail("j1", "store timed out", datetime.now(UTC) + timedelta(hours=1))
    queue.fail("j2", "store timed out", datetime.now(UTC) - timedelta(seconds=1))
    again = queue.claim("w2", 60)
    assert again is not None and again.id == "j2" and again.attempts == 2
    assert again.last_error == "store timed out"
    assert queue.claim("w2", 60) is None
    (waiting,) = queue.jobs(frozenset({JobState.QUEUED}))
    assert waiting.id == "j1" and waiting.last_error == "store timed out"
    assert waiting.run_at > datetime.now(UTC) + timedelta(minutes=59)


def test_a_dead_job_waits_for_retry(queue: JobQueue) -> None:
    queue.enqueue(make("j1"))
    queue.claim("w1", 60)
    queue.fail("j1", "OSError: disk full ✗", None)
    queue.fail("unknown", "nothing", None)
    assert queue.claim("w1", 60) is None
    (dead,) = queue.jobs(frozenset({JobState.DEAD}))
    assert (dead.id, dead.attempts, dead.last_error) == ("j1", 1, "OSError: disk full ✗")
    retried = queue.retry("j1", datetime.now(UTC))
    assert (retried.state, retried.attempts) == (JobState.QUEUED, 0)
    again = queue.claim("w1", 60)
    assert again is not None and again.id == "j1" and again.attempts == 1


def test_retry_of_an_unknown_job_is_not_found(queue: JobQueue) -> None:
    with pytest.raises(NotFound):
        queue.retry("nope", datetime.now(UTC))


def test_a_job_is_read_by_its_id_in_every_state(queue: JobQueue) -> None:
    for name in ("j1", "j2", "j3", "j4"):
        queue.enqueue(make(name, photo_id=f"p-{name}"))
    queue.claim("w1", 60)
    queue.claim("w1", 60)
    queue.claim("w1", 60)
    queue.complete("j1")
    queue.fail("j2", "OSError: disk full ✗", None)
    states = {name: queue.get(name).state for name in ("j1", "j2", "j3", "j4")}
    assert states == {
        "j1": JobState.DONE,
        "j2": JobState.DEAD,
        "j3": JobState.RUNNING,
        "j4": JobState.QUEUED,
    }
    dead = queue.get("j2")
    assert (dead.photo_id, dead.attempts, dead.last_error) == ("p-j2", 1, "OSError: disk full ✗")
    with pytest.raises(NotFound):
        queue.get("nope")


def test_the_photos_with_a_live_job_of_a_kind_are_found_by_photo_id(queue: JobQueue) -> None:
    now = datetime.now(UTC)
    for job_id, photo_id, kind in (
        ("j1", "done", PROCESS),
        ("j2", "dead", PROCESS),
        ("j3", "running", PROCESS),
        ("j4", "queued", PROCESS),
        ("j5", "told", "notify:log"),
        ("j6", "unasked", PROCESS),
        ("j7", "again", PROCESS),
        ("j8", "again", PROCESS),
    ):
        queue.enqueue(Job(job_id, photo_id, now, now - timedelta(seconds=60), kind=kind))
    for _ in range(3):
        queue.claim("w1", 60)
    queue.complete("j1")
    queue.fail("j2", "boom", None)
    queue.complete("j7")
    asked = {"done", "dead", "running", "queued", "told", "again", "never"}
    assert queue.with_jobs(asked, PROCESS) == {"running", "queued", "again"}
    assert queue.with_jobs(asked, "notify:log") == {"told"}
    assert queue.with_jobs(set(), PROCESS) == set()
    running = frozenset({JobState.RUNNING})
    assert queue.with_jobs(asked, PROCESS, running) == {"running"}
    assert queue.with_jobs(asked, PROCESS, frozenset({JobState.DEAD})) == {"dead"}


def test_jobs_filters_by_state_oldest_first(queue: JobQueue) -> None:
    for name in ("j1", "j2", "j3", "j4"):
        queue.enqueue(make(name))
    queue.claim("w1", 60)
    queue.fail("j2", "boom", None)
    queue.complete("j1")
    assert [j.id for j in queue.jobs(frozenset({JobState.QUEUED}))] == ["j3", "j4"]
    assert [j.id for j in queue.jobs(frozenset({JobState.QUEUED}), limit=1)] == ["j3"]
    assert [j.id for j in queue.jobs(ALL_STATES)] == ["j1", "j2", "j3", "j4"]
    assert queue.jobs(frozenset({JobState.RUNNING})) == []
    assert queue.jobs(frozenset()) == []


def test_jobs_are_listed_a_page_at_a_time_after_the_last_one_read(queue: JobQueue) -> None:
    now = datetime.now(UTC)
    for job_id, created in (("b", 0), ("a", 0), ("c", 5), ("d", 9)):
        queue.enqueue(Job(job_id, "p1", now + timedelta(seconds=created), now))
    first = queue.jobs(frozenset({JobState.QUEUED}), limit=2)
    assert [j.id for j in first] == ["a", "b"]
    queue.claim("w1", 60)  # `a`, gone from the queued ones: the next page starts all the same
    after_b = queue.jobs(frozenset({JobState.QUEUED}), limit=2, after=first[-1])
    assert [j.id for j in after_b] == ["c", "d"]
    assert queue.jobs(frozenset({JobState.QUEUED}), limit=2, after=after_b[-1]) == []
    assert [j.id for j in queue.jobs(ALL_STATES, after=first[0])] == ["b", "c", "d"]


def test_jobs_are_counted_by_state(queue: JobQueue) -> None:
    for name in ("j1", "j2", "j3", "j4", "j5"):
        queue.enqueue(make(name))
    queue.claim("w1", 60)
    queue.fail("j1", "boom", None)
    queue.claim("w1", 60)
    queue.claim("w1", 60)
    queue.complete("j3")
    assert queue.count(ALL_STATES) == {
        JobState.QUEUED: 2,
        JobState.RUNNING: 1,
        JobState.DONE: 1,
        JobState.DEAD: 1,
    }
    assert queue.count(frozenset({JobState.DEAD})) == {JobState.DEAD: 1}
    assert queue.count(frozenset()) == {}


def test_due_jobs_are_counted_without_those_waiting_or_taken(queue: JobQueue) -> None:
    for name, due_in in (("j1", -60), ("j2", -60), ("j3", -30), ("later", 3600)):
        queue.enqueue(make(name, due_in))
    queue.claim("w1", 60)
    queue.claim("w1", 60)
    queue.fail("j2", "boom", None)
    now = datetime.now(UTC)
    assert queue.count_due(now) == 1  # j3: j1 is running, j2 dead, `later` not due yet
    assert queue.count_due(now + timedelta(hours=2)) == 2
    assert queue.count_due(now - timedelta(hours=1)) == 0


def claim_concurrently(queues: list[JobQueue], threads_per_queue: int) -> list[str]:
    claimed: list[list[str]] = []
    errors: list[BaseException] = []

    def work(queue: JobQueue, name: str) -> Callable[[], None]:
        def run() -> None:
            try:
                claimed.append(claim_all(queue, name))
            except BaseException as error:
                errors.append(error)

        return run

    threads = [
        threading.Thread(target=work(q, f"w{i}-{n}"))
        for i, q in enumerate(queues)
        for n in range(threads_per_queue)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    return [job_id for ids in claimed for job_id in ids]


def test_concurrent_workers_never_claim_the_same_job(queue: JobQueue) -> None:
    ids = [f"j{i:02d}" for i in range(20)]
    for job_id in ids:
        queue.enqueue(make(job_id))
    assert sorted(claim_concurrently([queue], 4)) == ids


def test_sql_jobs_survive_their_process(sql_database: SqlDatabase) -> None:
    url = sql_database.engine.url.render_as_string(hide_password=False)
    LocalJobQueue(sql_database).enqueue(make("j1", photo_id="p9"))
    sql_database.close()
    later = SqlDatabase(url)
    job = LocalJobQueue(later).claim("w1", 60)
    later.close()
    assert job is not None and (job.id, job.photo_id) == ("j1", "p9")


def test_sql_workers_of_two_processes_never_share_a_job(sql_database: SqlDatabase) -> None:
    other = SqlDatabase(sql_database.engine.url.render_as_string(hide_password=False))
    queues: list[JobQueue] = [LocalJobQueue(sql_database), LocalJobQueue(other)]
    ids = [f"j{i:02d}" for i in range(30)]
    for job_id in ids:
        queues[0].enqueue(make(job_id))
    claimed = claim_concurrently(queues, 3)
    other.close()
    assert sorted(claimed) == ids


def test_sql_purges_old_done_jobs_only(sql_database: SqlDatabase) -> None:
    queue = LocalJobQueue(sql_database)
    for job_id in ("j1", "j2", "j3"):
        queue.enqueue(make(job_id))
    queue.claim("w1", 60)
    queue.claim("w1", 60)
    queue.complete("j1")
    queue.fail("j2", "boom", None)
    assert queue.purge_done(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert queue.purge_done(datetime.now(UTC)) == 1
    assert [j.id for j in queue.jobs(ALL_STATES)] == ["j2", "j3"]


def test_sql_keeps_a_bounded_error(sql_database: SqlDatabase) -> None:
    queue = LocalJobQueue(sql_database)
    queue.enqueue(make("j1"))
    queue.claim("w1", 60)
    queue.fail("j1", "é" * 100_000, None)
    (dead,) = queue.jobs(frozenset({JobState.DEAD}))
    assert dead.last_error == "é" * MAX_ERROR_LENGTH
