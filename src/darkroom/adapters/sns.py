"""Processing results published to an SNS topic (seed 004's success and failure messages)."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import TYPE_CHECKING

from darkroom.adapters.aws import client, translated
from darkroom.adapters.log import message
from darkroom.domain import Photo
from darkroom.errors import DarkroomError, Unavailable

if TYPE_CHECKING:
    from types_boto3_sns.client import SNSClient


class SnsNotifier:
    def __init__(
        self,
        topic_arn: str,
        sns_client: SNSClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.topic_arn = topic_arn
        self._client = sns_client
        self._endpoint_url = endpoint_url
        self._region = region

    @property
    def sns(self) -> SNSClient:
        if self._client is None:
            self._client = client("sns", self._endpoint_url, self._region)
        return self._client

    def photo_processed(self, photo: Photo) -> None:
        body = message(photo)
        event = str(body["event"])
        try:
            with translated(f"cannot publish {event} of photo {photo.id}"):
                self.sns.publish(
                    TopicArn=self.topic_arn,
                    Subject=_subject(f"darkroom: {event} {photo.filename or photo.id}"),
                    Message=json.dumps(body, sort_keys=True),
                    # Subscribers can filter on these without parsing the message.
                    MessageAttributes={
                        "event": {"DataType": "String", "StringValue": event},
                        "owner": {"DataType": "String", "StringValue": photo.owner or "-"},
                    },
                )
        except DarkroomError as exc:
            # A missing topic reads as NotFound elsewhere; here it is a delivery to retry.
            raise Unavailable(str(exc)) from exc


_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def _subject(text: str) -> str:
    """`text` as SNS takes a subject: ASCII without line breaks or control characters, less
    than 100 characters. Accents are dropped from the letters they mark ("Été" reads
    "Ete"); any other character outside ASCII becomes "?", a control character a space. A
    subject SNS refuses would fail every notification of that photo, retries and all."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _NOT_PRINTABLE_ASCII.sub(lambda c: "?" if c[0].isprintable() else " ", plain)[:99]
