"""Photo records in one DynamoDB table (on-demand), shared with the SQS queue's job ledger.

Items, by partition key `pk`:
- `PHOTO#<id>`: the photo; `gsi1` = (`OWNER#<owner>`, `<created>|<id>`) lists an owner's
  photos newest first, `gsi2` = (`HASH#<owner>#<sha256>`, same) finds copies. Everyone's
  photos are read by one scan (`every`), in no order.
- `KEY#<key>`: claims an original's key, so two photos can never share one; written in
  the same transaction as the photo.
- `KEEPER#<owner>#<sha256>`: the photo that keeps the owner's bytes of that digest
  (`claim_bytes`), put only where none is, as `gsi2` may not show yet a photo recorded a
  moment ago; deleted with that photo if it is still the photo's digest (claims on bytes
  its original had before are left, for `doctor` to find through `claims`).
- `JOB#<id>`: see `dynamodb_jobs`.

The table itself, and the sort keys both use, are in `dynamodb_table`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from darkroom.adapters.aws import translated
from darkroom.adapters.dynamodb_table import TableUser, decode_cursor, encode_cursor, position
from darkroom.domain import Claim, Page, Photo, PhotoStatus, Variant
from darkroom.errors import Conflict, NotFound, Unavailable

if TYPE_CHECKING:
    pass

Item = dict[str, Any]
_STRINGS = (
    "id",
    "owner",
    "key",
    "filename",
    "description",
    "status",
    "reason",
    "content_type",
    "sha256",
    "duplicate_of",
    "recipe",
    "blurhash",
)
_NUMBERS = ("size", "width", "height", "version")
_PHOTO = "PHOTO#"
_KEEPER = "KEEPER#"
_BATCH = 100
"""Keys one BatchGetItem takes at most."""
_CLAIM_ATTEMPTS = 5
"""Rounds of `claim_bytes` lost to other photos' claims and releases before giving up."""
_UNPROCESSED_TRIES = 6
"""Rounds of keys DynamoDB left unread (throttled) asked for again, after 50 ms, 100 ms…"""


class DynamoDbCatalog(TableUser):
    def add(self, photo: Photo) -> None:
        claim = {"pk": {"S": f"KEY#{photo.key}"}, "photo_id": {"S": photo.id}}
        try:
            self.put_new(f"photo {photo.id}", _item(photo), claim)
        except Conflict:
            raise Conflict(f"photo {photo.id} or its key {photo.key!r} is taken") from None

    def get(self, photo_id: str) -> Photo:
        item = self.item(f"PHOTO#{photo_id}")
        if item is None:
            raise NotFound(f"no photo {photo_id!r}")
        return _photo(item)

    def get_many(self, photo_ids: Collection[str]) -> dict[str, Photo]:
        """BatchGetItem, consistent, a hundred keys a call; keys it leaves unprocessed (a
        throttled partition) are asked for again, as AWS advises, with a growing pause."""
        wanted = sorted(set(photo_ids))
        found: dict[str, Photo] = {}
        for at in range(0, len(wanted), _BATCH):
            keys = [{"pk": {"S": f"PHOTO#{i}"}} for i in wanted[at : at + _BATCH]]
            request: Item = {self.table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(_UNPROCESSED_TRIES):
                if attempt:
                    time.sleep(0.05 * 2 ** (attempt - 1))
                with translated("cannot read the photos"):
                    answer = self.dynamodb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    photo = _photo(item)
                    found[photo.id] = photo
                request = dict(answer.get("UnprocessedKeys") or {})
                if not request:
                    break
            else:
                raise Unavailable("cannot read the photos: DynamoDB keeps throttling the reads")
        return found

    def get_by_key(self, key: str) -> Photo:
        claim = self.item(f"KEY#{key}")
        if claim is None:
            raise NotFound(f"no photo stored under {key!r}")
        return self.get(claim["photo_id"]["S"])

    def find_by_hash(self, owner: str, sha256: str) -> list[Photo]:
        condition = "gsi2pk = :pk"
        values = {":pk": {"S": f"HASH#{owner}#{sha256}"}}
        return [_photo(item) for item in self._query("gsi2", condition, values, forward=True)]

    def claim_bytes(self, owner: str, sha256: str, photo_id: str, *, replacing: str = "") -> str:
        """A conditional put: DynamoDB lets exactly one of the photos claiming at once write."""
        pk = f"{_KEEPER}{owner}#{sha256}"
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                with translated(f"cannot claim the bytes of photo {photo_id}"):
                    self.dynamodb.put_item(
                        TableName=self.table,
                        Item={"pk": {"S": pk}, "photo_id": {"S": photo_id}},
                        ConditionExpression="attribute_not_exists(pk) OR photo_id = :was",
                        ExpressionAttributeValues={":was": {"S": replacing or photo_id}},
                    )
                return photo_id
            except Conflict:
                keeper = self.item(pk)
            if keeper is not None and keeper["photo_id"]["S"] != replacing:
                return str(keeper["photo_id"]["S"])
        raise Conflict(f"the keeper of {owner}'s bytes {sha256[:12]}… kept changing")

    def release(self, claim: Claim) -> None:
        self._release(f"{_KEEPER}{claim.owner}#{claim.sha256}", claim.photo_id)

    def list(self, owner: str, limit: int, cursor: str | None = None) -> Page[Photo]:
        after = decode_cursor(cursor) if cursor else None
        condition = "gsi1pk = :pk" + (" AND gsi1sk < :at" if after else "")
        values = {":pk": {"S": f"OWNER#{owner}"}}
        if after:
            values[":at"] = {"S": after}
        items = self._query("gsi1", condition, values, forward=False, limit=limit + 1)
        photos = [_photo(item) for _, item in zip(range(limit + 1), items, strict=False)]
        more = len(photos) > limit
        page = tuple(photos[:limit])
        last = page[-1] if page else None
        return Page(
            page, encode_cursor(position(last.created_at, last.id)) if more and last else None
        )

    def every(self) -> Iterator[Photo]:
        """One scan of the table, followed page by page (1 MB each) and never sorted: the
        table has no order of everyone's photos short of one index partition they would all
        share, and `doctor` and `reprocess` need none."""
        for item in self._scan(_PHOTO):
            yield _photo(item)

    def every_with_claims(self) -> Iterator[Photo | Claim]:
        """The same scan, keeping the `KEEPER#` items too."""
        for item in self._scan(_PHOTO, _KEEPER):
            pk = item["pk"]["S"]
            if pk.startswith(_PHOTO):
                yield _photo(item)
            else:
                owner, _, sha256 = pk.removeprefix(_KEEPER).rpartition("#")
                yield Claim(owner, sha256, item["photo_id"]["S"])

    def _scan(self, *prefixes: str) -> Iterator[Item]:
        """The items whose partition key begins with one of `prefixes`, page by page."""
        names = [f":p{n}" for n in range(len(prefixes))]
        scan: Item = {
            "TableName": self.table,
            "FilterExpression": " OR ".join(f"begins_with(pk, {name})" for name in names),
            "ExpressionAttributeValues": {
                name: {"S": prefix} for name, prefix in zip(names, prefixes, strict=True)
            },
        }
        while True:
            with translated("cannot list every photo"):
                answer = self.dynamodb.scan(**scan)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            scan["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def count_by_status(self) -> dict[str, int]:
        """One scan that brings back each photo's status alone (DynamoDB keeps no counts)."""
        scan: Item = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :photo)",
            "ExpressionAttributeValues": {":photo": {"S": "PHOTO#"}},
            "ProjectionExpression": "#status",
            "ExpressionAttributeNames": {"#status": "status"},
        }
        counts: dict[str, int] = {}
        while True:
            with translated("cannot count the photos"):
                answer = self.dynamodb.scan(**scan)
            for item in answer.get("Items", []):
                status = item["status"]["S"]
                counts[status] = counts.get(status, 0) + 1
            if "LastEvaluatedKey" not in answer:
                return counts
            scan["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def update(self, photo: Photo) -> Photo:
        updated = photo.evolve(version=photo.version + 1)
        try:
            with translated(f"cannot update photo {photo.id}"):
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item=_item(updated),
                    ConditionExpression="attribute_exists(pk) AND version = :v",
                    ExpressionAttributeValues={":v": {"N": str(photo.version)}},
                )
        except Conflict:
            if self.item(f"PHOTO#{photo.id}") is None:
                raise NotFound(f"no photo {photo.id!r}") from None
            raise Conflict(f"photo {photo.id} changed since version {photo.version}") from None
        return updated

    def delete(self, photo_id: str) -> None:
        with translated(f"cannot delete photo {photo_id}"):
            old = self.dynamodb.delete_item(
                TableName=self.table, Key={"pk": {"S": f"PHOTO#{photo_id}"}}, ReturnValues="ALL_OLD"
            ).get("Attributes")
        if not old:
            return
        self._release(f"KEY#{old['key']['S']}", photo_id)
        if old.get("sha256", {}).get("S"):
            self._release(f"{_KEEPER}{old['owner']['S']}#{old['sha256']['S']}", photo_id)

    def _release(self, claim: str, photo_id: str) -> None:
        """Deletes the claim if `photo_id` still holds it (another photo may have since)."""
        try:
            with translated(f"cannot release {claim.split('#')[0].lower()} of photo {photo_id}"):
                self.dynamodb.delete_item(
                    TableName=self.table,
                    Key={"pk": {"S": claim}},
                    ConditionExpression="photo_id = :id",
                    ExpressionAttributeValues={":id": {"S": photo_id}},
                )
        except Conflict:
            return

    def _query(
        self, index: str, condition: str, values: Item, *, forward: bool, limit: int = 0
    ) -> Iterator[Item]:
        query: Item = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
        }
        if limit:
            query["Limit"] = limit
        while True:
            with translated(f"cannot query {index}"):
                answer = self.dynamodb.query(**query)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _item(photo: Photo) -> Item:
    at = position(photo.created_at, photo.id)
    item: Item = {
        "pk": {"S": f"PHOTO#{photo.id}"},
        "gsi1pk": {"S": f"OWNER#{photo.owner}"},
        "gsi1sk": {"S": at},
        "created_at": {"S": photo.created_at.astimezone(UTC).isoformat()},
        "updated_at": {"S": photo.updated_at.astimezone(UTC).isoformat()},
        "variants": {"S": json.dumps([_variant_json(v) for v in photo.variants])},
        "metadata": {"S": json.dumps(dict(photo.metadata))},
    }
    item.update({name: {"S": str(getattr(photo, name))} for name in _STRINGS})
    item.update({name: {"N": str(getattr(photo, name))} for name in _NUMBERS})
    if photo.sha256:
        # An index key cannot be empty; photos not yet hashed stay out of `gsi2`.
        item["gsi2pk"] = {"S": f"HASH#{photo.owner}#{photo.sha256}"}
        item["gsi2sk"] = {"S": at}
    return item


def _variant_json(variant: Variant) -> list[object]:
    return [
        variant.name,
        variant.key,
        variant.width,
        variant.height,
        variant.content_type,
        variant.size,
    ]


def _photo(item: Mapping[str, Any]) -> Photo:
    text = {name: item[name]["S"] for name in _STRINGS if name in item}
    numbers = {name: int(item[name]["N"]) for name in _NUMBERS}
    variants = tuple(
        Variant(name, key, int(width), int(height), content_type, int(size))
        for name, key, width, height, content_type, size in json.loads(item["variants"]["S"])
    )
    return Photo(
        id=text["id"],
        owner=text["owner"],
        key=text["key"],
        filename=text["filename"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        description=text["description"],
        status=PhotoStatus(text["status"]),
        reason=text["reason"],
        content_type=text["content_type"],
        sha256=text["sha256"],
        duplicate_of=text["duplicate_of"],
        recipe=text["recipe"],
        blurhash=text.get("blurhash", ""),
        variants=variants,
        metadata=json.loads(item["metadata"]["S"]),
        **numbers,
    )
