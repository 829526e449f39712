"""Lambda events shaped like the real ones: SQS batches, S3 notifications, and API Gateway
proxy events (HTTP API payload 2.0 and REST API 1.0)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """What Lambda's SQS event source hands `process`, from `receive_message` answers."""
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {
                    name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"]}
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def api_v2(
    method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
) -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    headers = {"host": API_HOST, "user-agent": "pytest", "x-forwarded-proto": "https"}
    if body is not None:
        headers["content-type"] = content_type
        headers["content-length"] = str(len(body))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": API_HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def api_v1(method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    params = dict(parse_qsl(query)) or None
    headers = {"Host": API_HOST, "User-Agent": "pytest", "X-Forwarded-Proto": "https"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}",
        "path": raw_path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": params,
        "multiValueQueryStringParameters": {k: [v] for k, v in params.items()} if params else None,
        "pathParameters": {"proxy": raw_path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{raw_path}",
            "stage": "prod",
            "requestId": uuid.uuid4().hex,
            "accountId": "123456789012",
            "apiId": "abc123",
            "protocol": "HTTP/1.1",
            "domainName": API_HOST,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
        },
        "body": body.decode() if body is not None else None,
        "isBase64Encoded": False,
    }


def answer_json(response: dict[str, Any]) -> Any:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None
