"""Users and share links in darkroom's DynamoDB table, beside the photos.

Items, by partition key `pk`:
- `USER#<id>`: an account of darkroom's own sign-in;
- `EMAIL#<address>`: claims an address for one user, written in the same transaction as
  the user, so two accounts can never share one;
- `SHARE#<id>`: a share link; `gsi1` = (`SHARES#<photo id>`, `<created>|<id>`) lists a
  photo's links oldest first; the table's time to live (`expires`) removes it once expired.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from darkroom.adapters.aws import translated
from darkroom.adapters.dynamodb_table import TableUser, position
from darkroom.domain import Share, User
from darkroom.errors import Conflict, NotFound

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]


class DynamoDbUsers(TableUser):
    def add(self, user: User) -> None:
        try:
            self.put_new(f"user {user.id}", _user_item(user), _claim(user))
        except Conflict:
            raise Conflict(f"user {user.id} or that email already exists") from None

    def get(self, user_id: str) -> User:
        item = self.item(f"USER#{user_id}")
        if item is None:
            raise NotFound(f"no user {user_id!r}")
        return _user(item)

    def find(self, email: str) -> User | None:
        claim = self.item(f"EMAIL#{email.lower()}")
        if claim is None:
            return None
        item = self.item(f"USER#{claim['user_id']['S']}")
        return None if item is None else _user(item)

    def update(self, user: User, expected: User) -> None:
        was = _user_item(expected)
        replace: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self.table,
                "Item": _user_item(user),
                "ConditionExpression": "attribute_exists(pk) AND email = :email"
                " AND password_hash = :hash AND verified = :verified AND #session = :session",
                "ExpressionAttributeNames": {"#session": "session"},  # a reserved word
                "ExpressionAttributeValues": {
                    ":email": was["email"],
                    ":hash": was["password_hash"],
                    ":verified": was["verified"],
                    ":session": was["session"],
                },
            }
        }
        moves: list[TransactWriteItemTypeDef] = []
        if was["email"]["S"] != user.email.lower():
            moves = [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": _claim(user),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": f"EMAIL#{was['email']['S']}"}},
                    }
                },
            ]
        try:
            with translated(f"cannot update user {user.id}"):
                self.dynamodb.transact_write_items(TransactItems=[replace, *moves])
        except Conflict:
            self.get(user.id)  # NotFound if it is gone
            raise Conflict(f"user {user.id} changed meanwhile, or that email is taken") from None


class DynamoDbShares(TableUser):
    def add(self, share: Share) -> None:
        with translated(f"cannot add share of photo {share.photo_id}"):
            self.dynamodb.put_item(
                TableName=self.table,
                Item=_share_item(share),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def get(self, share_id: str) -> Share:
        item = self.item(f"SHARE#{share_id}")
        if item is None:
            raise NotFound("no such share")
        return _share(item)

    def of_photo(self, photo_id: str) -> list[Share]:
        query: Item = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"SHARES#{photo_id}"}},
            "ScanIndexForward": True,
        }
        found: list[Share] = []
        while True:
            with translated(f"cannot list the shares of photo {photo_id}"):
                answer = self.dynamodb.query(**query)
            found += [_share(item) for item in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                return found
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def delete(self, share_id: str) -> None:
        with translated("cannot delete a share"):
            self.dynamodb.delete_item(TableName=self.table, Key={"pk": {"S": f"SHARE#{share_id}"}})


def _user_item(user: User) -> Item:
    return {
        "pk": {"S": f"USER#{user.id}"},
        "id": {"S": user.id},
        "email": {"S": user.email.lower()},
        "password_hash": {"S": user.password_hash},
        "created_at": {"S": _time(user.created_at)},
        "verified": {"BOOL": user.verified},
        "session": {"N": str(user.session)},
    }


def _claim(user: User) -> Item:
    return {"pk": {"S": f"EMAIL#{user.email.lower()}"}, "user_id": {"S": user.id}}


def _user(item: Item) -> User:
    return User(
        id=item["id"]["S"],
        email=item["email"]["S"],
        password_hash=item["password_hash"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        verified=item["verified"]["BOOL"],
        session=int(item["session"]["N"]),
    )


def _share_item(share: Share) -> Item:
    return {
        "pk": {"S": f"SHARE#{share.id}"},
        "gsi1pk": {"S": f"SHARES#{share.photo_id}"},
        "gsi1sk": {"S": position(share.created_at, share.id)},
        "id": {"S": share.id},
        "photo_id": {"S": share.photo_id},
        "owner": {"S": share.owner},
        "created_at": {"S": _time(share.created_at)},
        "expires_at": {"S": _time(share.expires_at)},
        # DynamoDB's time to live removes the item a day after the link stops working.
        "expires": {"N": str(int(share.expires_at.timestamp()) + 86_400)},
    }


def _share(item: Item) -> Share:
    return Share(
        id=item["id"]["S"],
        photo_id=item["photo_id"]["S"],
        owner=item["owner"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        expires_at=datetime.fromisoformat(item["expires_at"]["S"]),
    )


def _time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
