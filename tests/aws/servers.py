"""The S3-compatible servers the AWS tests run against, started once per test run on
127.0.0.1 with a free port: `rclone serve s3` (checks signatures strictly) and moto's
server (S3 events, SQS, SNS, DynamoDB). A server that does not start fails the run.

Plain functions rather than fixtures, so the contract suites in `tests/contract/` can
use them from their adapter tables too; each server is stopped when the run ends.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from darkroom.adapters.s3 import S3BlobStore, S3Location, UploadStyle

REGION = "us-east-1"
RCLONE_KEY = "darkroom-test-key"
RCLONE_SECRET = "darkroom-test-secret"
MOTO_KEY = "testing"
MOTO_SECRET = "testing"
_started: dict[str, str] = {}
_lock = threading.Lock()


def rclone_endpoint() -> str:
    with _lock:
        if "rclone" not in _started:
            _started["rclone"] = _start_rclone()
        return _started["rclone"]


def moto_endpoint() -> str:
    with _lock:
        if "moto" not in _started:
            _started["moto"] = _start_moto()
        return _started["moto"]


def _start_rclone() -> str:
    rclone = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")
    root = Path(tempfile.mkdtemp(prefix="darkroom-rclone-"))
    log_path = root / "rclone.log"
    data = root / "data"
    data.mkdir()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                rclone,
                "serve",
                "s3",
                "--auth-key",
                f"{RCLONE_KEY},{RCLONE_SECRET}",
                "--addr",
                "127.0.0.1:0",
                "--config",
                "/dev/null",
                str(data),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def stop() -> None:
        process.terminate()
        process.wait(10)
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        marker = "Starting s3 server on [http://"
        if marker in text:
            address = text.split(marker, 1)[1].split("/", 1)[0]
            return f"http://{address}"
        if process.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError(f"rclone serve s3 did not start: {log_path.read_text()[-2000:]}")


def _start_moto() -> str:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    atexit.register(server.stop)
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def aws_client(service: str, endpoint: str) -> Any:
    key, secret = (
        (RCLONE_KEY, RCLONE_SECRET)
        if endpoint == _started.get("rclone")
        else (
            MOTO_KEY,
            MOTO_SECRET,
        )
    )
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "max_attempts": 2},
        ),
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_bucket(endpoint: str) -> str:
    name = unique("darkroom")
    aws_client("s3", endpoint).create_bucket(Bucket=name)
    return name


def s3_store(endpoint: str, part_size: int | None = None) -> S3BlobStore:
    """A store on an empty bucket. rclone has no presigned POST: it gets signed PUTs."""
    upload: UploadStyle = "put" if endpoint == rclone_endpoint() else "post"
    location = S3Location(new_bucket(endpoint), endpoint_url=endpoint, upload=upload)
    client = aws_client("s3", endpoint)
    if part_size is None:
        return S3BlobStore(location, client)
    return S3BlobStore(location, client, part_size=part_size)


def new_user_pool() -> tuple[str, str]:
    """A Cognito user pool on moto's server, signing in by email, and an app client for it
    that may sign in with a password: (pool id, client id)."""
    cognito = aws_client("cognito-idp", moto_endpoint())
    pool = cognito.create_user_pool(PoolName=unique("darkroom"), UsernameAttributes=["email"])
    client = cognito.create_user_pool_client(
        UserPoolId=pool["UserPool"]["Id"],
        ClientName="page",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )
    return pool["UserPool"]["Id"], client["UserPoolClient"]["ClientId"]
