"""The job ledger of the SQS queue, in the catalog's DynamoDB table.

SQS delivers jobs but cannot list them or say which are done; the ledger can. Each job is
one item `JOB#<id>`, listed by state through `gsi1` (`JOBS#<state>`, `<created>|<id>`) and
by photo through `gsi2` (`JOBS_OF#<photo id>`, the same). Claims are conditional writes on
it, so a message SQS delivers twice runs once.

Jobs recorded before `gsi2` have no key in it. Any update of such a job adds the keys, and
before the ledger first answers which photos have a job, it gives them to every queued and
running job still without, then marks the table (`LEDGER#jobs-by-photo`) so that later
asks skip that pass.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from darkroom.adapters.aws import translated
from darkroom.adapters.dynamodb_table import TableUser, position
from darkroom.domain import LIVE_JOBS, PROCESS, Job, JobState
from darkroom.errors import Conflict, NotFound, Unavailable

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import QueryOutputTypeDef

log = logging.getLogger(__name__)

DONE_KEPT_FOR = 7 * 86400
"""Seconds a done job stays listed; the table's time-to-live attribute `expires` then
removes it."""
_EXISTS = "attribute_exists(pk)"
_INDEXED_BY_PHOTO = "LEDGER#jobs-by-photo"
"""The item whose presence says every live job has its `gsi2` keys."""


class DynamoDbJobLedger(TableUser):
    _indexed_by_photo = False
    """Whether this ledger has seen the table's live jobs all indexed by photo."""

    def put(self, job: Job) -> None:
        with translated(f"cannot record job {job.id}"):
            self.dynamodb.put_item(TableName=self.table, Item=_item(job))

    def get(self, job_id: str) -> tuple[Job, float] | None:
        """The job and the end of its lease (epoch seconds), if there is such a job."""
        with translated(f"cannot read job {job_id}"):
            answer = self.dynamodb.get_item(
                TableName=self.table, Key={"pk": {"S": f"JOB#{job_id}"}}, ConsistentRead=True
            )
        item = answer.get("Item")
        return (_job(item), float(item["lease_until"]["N"])) if item else None

    def take(self, job_id: str, lease_seconds: float, now: float) -> Job | None:
        """Start an attempt if the job is due or its last lease ran out; None if another
        worker holds it or it is not due."""
        try:
            return self._set(
                job_id,
                "SET #s = :running, gsi1pk = :pk, attempts = attempts + :one, lease_until = :lease",
                "(#s = :queued AND due <= :now) OR (#s = :running AND lease_until < :now)",
                {
                    ":running": {"S": JobState.RUNNING.value},
                    ":queued": {"S": JobState.QUEUED.value},
                    ":pk": {"S": f"JOBS#{JobState.RUNNING.value}"},
                    ":one": {"N": "1"},
                    ":lease": {"N": f"{now + lease_seconds:.6f}"},
                    ":now": {"N": f"{now:.6f}"},
                },
            )
        except (Conflict, NotFound):
            return None

    def finish(self, job_id: str) -> None:
        try:
            self._state(job_id, JobState.DONE, {"expires": int(time.time()) + DONE_KEPT_FOR})
        except NotFound:
            return

    def fail(self, job_id: str, error: str, retry_at: datetime | None) -> Job | None:
        """None for an unknown job."""
        extra: dict[str, object] = {"last_error": error[:4000]}
        if retry_at is not None:
            extra |= {"run_at": retry_at.astimezone(UTC).isoformat(), "due": retry_at.timestamp()}
        try:
            return self._state(
                job_id, JobState.DEAD if retry_at is None else JobState.QUEUED, extra
            )
        except NotFound:
            return None

    def retry(self, job_id: str, run_at: datetime) -> Job:
        extra = {"attempts": 0, "run_at": run_at.astimezone(UTC).isoformat()}
        return self._state(job_id, JobState.QUEUED, extra | {"due": run_at.timestamp()})

    def jobs(self, states: frozenset[JobState], limit: int, after: Job | None = None) -> list[Job]:
        found: list[Job] = []
        for state in states:
            query = _in_state(state) | {"Limit": limit}
            if after is not None:
                query["KeyConditionExpression"] += " AND gsi1sk > :after"
                query["ExpressionAttributeValues"] = query["ExpressionAttributeValues"] | {
                    ":after": {"S": position(after.created_at, after.id)}
                }
            for answer in self._pages(query, state.value, limit):
                found.extend(_job(item) for item in answer.get("Items", []))
        return sorted(found, key=lambda job: (job.created_at, job.id))[:limit]

    def with_jobs(
        self, photo_ids: Collection[str], kind: str, states: frozenset[JobState] = LIVE_JOBS
    ) -> set[str]:
        """One query of `gsi2` a photo: each has a job or two, not the library's."""
        if not states:
            return set()
        self._index_live_jobs()
        wanted = {f":{state.value}": {"S": state.value} for state in states}
        found: set[str] = set()
        for photo_id in photo_ids:
            query = {
                "IndexName": "gsi2",
                "KeyConditionExpression": "gsi2pk = :pk",
                "FilterExpression": f"#s IN ({', '.join(sorted(wanted))}) AND #k = :kind",
                "ExpressionAttributeNames": {"#s": "state", "#k": "kind"},
                "ExpressionAttributeValues": wanted
                | {":pk": {"S": f"JOBS_OF#{photo_id}"}, ":kind": {"S": kind}},
                "Select": "COUNT",
            }
            if any(answer["Count"] for answer in self._pages(query, f"photo {photo_id}'s")):
                found.add(photo_id)
        return found

    def count(self, states: frozenset[JobState]) -> dict[JobState, int]:
        return {
            state: sum(
                answer["Count"]
                for answer in self._pages(_in_state(state) | {"Select": "COUNT"}, state.value)
            )
            for state in states
        }

    def count_due(self, now: datetime) -> int:
        """The queued jobs' index read through, their `due` compared by DynamoDB: only the
        count comes back."""
        query = _in_state(JobState.QUEUED) | {
            "Select": "COUNT",
            "FilterExpression": "due <= :now",
        }
        query["ExpressionAttributeValues"] = query["ExpressionAttributeValues"] | {
            ":now": _value(now.timestamp())
        }
        return sum(answer["Count"] for answer in self._pages(query, "due"))

    def _pages(
        self, query: dict[str, Any], which: str, limit: int | None = None
    ) -> Iterator[QueryOutputTypeDef]:
        """The answers of a query of the table's index, page after page (a page stops at
        1 MB), until `limit` items have come, or all of them."""
        query = {"TableName": self.table} | query
        seen = 0
        while True:
            with translated(f"cannot list {which} jobs"):
                answer = self.dynamodb.query(**query)
            yield answer
            seen += answer.get("Count", 0)
            if "LastEvaluatedKey" not in answer or (limit is not None and seen >= limit):
                return
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _index_live_jobs(self) -> None:
        """Gives the `gsi2` keys to queued and running jobs recorded without them: one read
        of their index in `gsi1` (only such jobs come back), once for the table."""
        if self._indexed_by_photo or self.item(_INDEXED_BY_PHOTO) is not None:
            self._indexed_by_photo = True
            return
        for state in LIVE_JOBS:
            query = _in_state(state) | {"FilterExpression": "attribute_not_exists(gsi2pk)"}
            for answer in self._pages(query, state.value):
                for item in answer.get("Items", []):
                    self._index_by_photo(item)
        with translated("cannot record the jobs' index by photo"):
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"pk": {"S": _INDEXED_BY_PHOTO}, "at": _value(time.time())},
            )
        self._indexed_by_photo = True

    def _index_by_photo(self, item: Mapping[str, Any]) -> None:
        """Adds a job's `gsi2` keys (and the kind every job then had), unless it has them."""
        job = _job(item)
        at = position(job.created_at, job.id)
        with contextlib.suppress(Conflict), translated(f"cannot index job {job.id} by photo"):
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": item["pk"]},
                UpdateExpression="SET gsi2pk = :pk, gsi2sk = :sk, #k = if_not_exists(#k, :kind)",
                ConditionExpression=f"{_EXISTS} AND attribute_not_exists(gsi2pk)",
                ExpressionAttributeNames={"#k": "kind"},
                ExpressionAttributeValues={
                    ":pk": {"S": f"JOBS_OF#{job.photo_id}"},
                    ":sk": {"S": at},
                    ":kind": {"S": job.kind},
                },
            )

    def _state(self, job_id: str, state: JobState, extra: Mapping[str, object]) -> Job:
        names = sorted(extra)
        assignments = "".join(f", #{name} = :{name}" for name in names)
        values = {f":{name}": _value(extra[name]) for name in names}
        return self._set(
            job_id,
            "SET #s = :state, gsi1pk = :pk" + assignments,
            _EXISTS,
            values | {":state": {"S": state.value}, ":pk": {"S": f"JOBS#{state.value}"}},
            {f"#{name}": name for name in names},
        )

    def _set(
        self,
        job_id: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> Job:
        try:
            with translated(f"cannot update job {job_id}"):
                answer = self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": f"JOB#{job_id}"}},
                    UpdateExpression=update,
                    ConditionExpression=f"{_EXISTS} AND ({condition})",
                    ExpressionAttributeNames={"#s": "state", **(names or {})},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except Conflict:
            if self.get(job_id) is None:
                raise NotFound(f"no job {job_id!r}") from None
            raise
        if "gsi2pk" not in answer["Attributes"]:
            try:
                self._index_by_photo(answer["Attributes"])
            except Unavailable:
                # The update is made, a job taken maybe: failing it here would leave that job
                # unrun until its lease ran out. The job's next update indexes it.
                log.warning("job %s: not indexed by photo yet", job_id, exc_info=True)
        return _job(answer["Attributes"])


def _in_state(state: JobState) -> dict[str, Any]:
    """A query of `state`'s jobs, oldest first."""
    return {
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"JOBS#{state.value}"}},
    }


def _value(value: object) -> dict[str, str]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, float):
        return {"N": f"{value:.6f}"}
    return {"N": str(value)}


def _item(job: Job) -> dict[str, Any]:
    return {
        "pk": {"S": f"JOB#{job.id}"},
        "gsi1pk": {"S": f"JOBS#{job.state.value}"},
        "gsi1sk": {"S": position(job.created_at, job.id)},
        "gsi2pk": {"S": f"JOBS_OF#{job.photo_id}"},
        "gsi2sk": {"S": position(job.created_at, job.id)},
        "id": {"S": job.id},
        "photo_id": {"S": job.photo_id},
        "created_at": {"S": job.created_at.astimezone(UTC).isoformat()},
        "run_at": {"S": job.run_at.astimezone(UTC).isoformat()},
        "due": _value(job.run_at.timestamp()),
        "state": {"S": job.state.value},
        "attempts": {"N": str(job.attempts)},
        "last_error": {"S": job.last_error},
        "lease_until": {"N": "0"},
        "correlation_id": {"S": job.correlation_id},
        "kind": {"S": job.kind},
    }


def _job(item: Mapping[str, Any]) -> Job:
    return Job(
        id=item["id"]["S"],
        photo_id=item["photo_id"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        run_at=datetime.fromisoformat(item["run_at"]["S"]),
        state=JobState(item["state"]["S"]),
        attempts=int(item["attempts"]["N"]),
        last_error=item["last_error"]["S"],
        correlation_id=item.get("correlation_id", {}).get("S", ""),
        kind=item.get("kind", {}).get("S", PROCESS),
    )
