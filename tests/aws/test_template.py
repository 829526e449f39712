"""infra/template.yaml, checked offline on every run: cfn-lint, the SAM translator and
cfn-lint of its output (scripts/check_template.py), and what the code relies on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from darkroom.adapters.dynamodb_table import TABLE_SCHEMA
from darkroom.aws import handlers

ROOT = Path(__file__).resolve().parents[2]
INFRA_PYTHON = ROOT / "build" / "infra-venv" / "bin" / "python"


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Runs every check, in the template tools' own venv, and keeps the translated template."""
    if not INFRA_PYTHON.exists():
        pytest.fail(f"no {INFRA_PYTHON}: run `make infra-tools` (part of `make test`)")
    out = tmp_path_factory.mktemp("template") / "translated.json"
    result = subprocess.run(
        [str(INFRA_PYTHON), str(ROOT / "scripts" / "check_template.py"), "--translated", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def test_cfn_lint_and_the_sam_translator_find_nothing(translated: dict[str, Any]) -> None:
    assert translated["Resources"]["ProcessFunction"]["Type"] == "AWS::Lambda::Function"


def test_the_table_is_the_one_the_catalog_expects(translated: dict[str, Any]) -> None:
    (table,) = resources(translated, "AWS::DynamoDB::Table").values()
    for name, value in TABLE_SCHEMA.items():
        assert table[name] == value, name
    assert table["TimeToLiveSpecification"]["AttributeName"] == "expires"


def test_functions_run_arm64_python_312_with_their_handlers_and_log_retention(
    translated: dict[str, Any],
) -> None:
    functions = resources(translated, "AWS::Lambda::Function")
    assert len(functions) == 3
    log_groups = resources(translated, "AWS::Logs::LogGroup")
    for function in functions.values():
        assert function["Architectures"] == ["arm64"] and function["Runtime"] == "python3.12"
        module, name = function["Handler"].rsplit(".", 1)
        assert module == "darkroom.aws.handlers" and callable(getattr(handlers, name))
        group = function["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_groups[group]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_queue_outlasts_the_processor_and_dead_letters_a_receive_after_the_attempts(
    translated: dict[str, Any],
) -> None:
    functions = {
        props["Handler"].rsplit(".", 1)[1]: props
        for props in resources(translated, "AWS::Lambda::Function").values()
    }
    queue = resources(translated, "AWS::SQS::Queue")["JobsQueue"]
    assert queue["VisibilityTimeout"] >= 6 * functions["process"]["Timeout"]
    attempts = functions["process"]["Environment"]["Variables"]["DARKROOM_JOB_ATTEMPTS"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == int(attempts) + 1
    (mapping,) = resources(translated, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 1


def test_originals_events_go_to_the_queue_and_removals_to_cleanup(
    translated: dict[str, Any],
) -> None:
    buckets = resources(translated, "AWS::S3::Bucket")
    notifications = buckets["OriginalsBucket"]["NotificationConfiguration"]
    (queued,) = notifications["QueueConfigurations"]
    (removal,) = notifications["LambdaConfigurations"]
    assert queued["Event"] == "s3:ObjectCreated:*"
    assert removal["Event"] == "s3:ObjectRemoved:*"
    assert "NotificationConfiguration" not in buckets["VariantsBucket"]
    for bucket in buckets.values():
        assert all(bucket["PublicAccessBlockConfiguration"].values())
        assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert buckets["OriginalsBucket"]["VersioningConfiguration"]["Status"] == "Enabled"


def test_the_api_signs_share_links_with_a_secret_of_the_stack(translated: dict[str, Any]) -> None:
    (secret,) = resources(translated, "AWS::SecretsManager::Secret").values()
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    api = translated["Resources"]["ApiFunction"]["Properties"]
    value = api["Environment"]["Variables"]["DARKROOM_SECRET"]
    assert value == {"Fn::Sub": "{{resolve:secretsmanager:${SigningSecret}:SecretString}}"}


def test_photos_dropped_in_the_bucket_go_to_the_account_the_stack_names(
    translated: dict[str, Any],
) -> None:
    assert "DroppedPhotosOwner" in translated["Parameters"]
    process = translated["Resources"]["ProcessFunction"]["Properties"]
    variables = process["Environment"]["Variables"]
    assert variables["DARKROOM_DROPPED_OWNER"] == {"Ref": "DroppedPhotosOwner"}
    condition, with_owner, without = variables["DARKROOM_AUTH"]["Fn::If"]
    assert condition == "HasDroppedPhotosOwner" and without == "none"
    api = translated["Resources"]["ApiFunction"]["Properties"]
    assert with_owner == api["Environment"]["Variables"]["DARKROOM_AUTH"]
    policies = translated["Resources"]["ProcessFunctionRole"]["Properties"]["Policies"]
    granted = [
        statement["Fn::If"]
        for policy in policies
        for statement in policy["PolicyDocument"]["Statement"]
        if "Fn::If" in statement
    ]
    assert granted == [
        [
            "HasDroppedPhotosOwner",
            {
                "Effect": "Allow",
                "Action": "cognito-idp:AdminGetUser",
                "Resource": {"Fn::GetAtt": ["UserPool", "Arn"]},
            },
            {"Ref": "AWS::NoValue"},
        ]
    ]
    pool = translated["Resources"]["UserPool"]["Properties"]
    assert pool["UserAttributeUpdateSettings"] == {
        "AttributesRequireVerificationBeforeUpdate": ["email"]
    }


def _allowed(translated: dict[str, Any], function: str, action: str) -> list[Any]:
    """The resources the function's own policies allow `action` on."""
    role = translated["Resources"][f"{function}Role"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    return [
        statement["Resource"]
        for statement in statements
        if isinstance(statement, dict)
        and statement.get("Effect") == "Allow"
        and action in statement.get("Action", [])
    ]


def test_the_processor_may_queue_the_retry_of_a_notification(translated: dict[str, Any]) -> None:
    """A notification SNS does not take becomes a job on the jobs queue, sent by the
    processing function itself."""
    queue = {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert queue in _allowed(translated, "ProcessFunction", "sqs:SendMessage")


def test_the_api_may_read_the_photos_a_page_follows_in_one_batch(
    translated: dict[str, Any],
) -> None:
    """`GET /photos/status` reads up to a hundred photos with one BatchGetItem."""
    table = {"Fn::GetAtt": ["PhotosTable", "Arn"]}
    assert any(
        table in resources
        for resources in _allowed(translated, "ApiFunction", "dynamodb:BatchGetItem")
    )


def test_the_processor_may_carry_out_a_removal_sent_back(translated: dict[str, Any]) -> None:
    """A removal the cleanup function gave up on goes back through the jobs queue."""
    table = {"Fn::GetAtt": ["PhotosTable", "Arn"]}
    assert any(
        table in resources
        for resources in _allowed(translated, "ProcessFunction", "dynamodb:DeleteItem")
    )


@pytest.mark.parametrize("function", ["ApiFunction", "ProcessFunction", "CleanupFunction"])
def test_each_function_that_deletes_photos_may_list_their_variants(
    translated: dict[str, Any], function: str
) -> None:
    """A photo's removal lists its prefix in the variants bucket for variants recorded while
    it was being deleted: the API deletes photos, the processor removals sent back, and the
    cleanup function those of deleted originals."""
    variants = "arn:${AWS::Partition}:s3:::${AWS::StackName}-${AWS::AccountId}-variants"
    assert {"Fn::Sub": variants} in _allowed(translated, function, "s3:ListBucket")


@pytest.mark.parametrize(
    ("function", "actions"),
    [
        ("ProcessFunction", ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"]),
        ("ApiFunction", ["dynamodb:DeleteItem"]),
        ("CleanupFunction", ["dynamodb:DeleteItem"]),
    ],
)
def test_each_function_may_claim_or_release_the_bytes_a_photo_keeps(
    translated: dict[str, Any], function: str, actions: list[str]
) -> None:
    """Processing claims a photo's bytes with a conditional PutItem (reading the claim that
    won), and each function that deletes photos releases their claims with DeleteItem."""
    table = {"Fn::GetAtt": ["PhotosTable", "Arn"]}
    for action in actions:
        allowed = _allowed(translated, function, action)
        assert any(table == r or (isinstance(r, list) and table in r) for r in allowed), action
