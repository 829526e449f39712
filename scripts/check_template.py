"""Checks infra/template.yaml offline: cfn-lint on it, the SAM translator on it, cfn-lint on
what the translator makes. cfn-lint alone no longer runs the SAM transform, so it would
miss a bad event source or a circular dependency between a bucket and a function.

Runs in build/infra-venv (`make infra-tools`): the translator pins an older pydantic.

    build/infra-venv/bin/python scripts/check_template.py [--translated OUT.json] [TEMPLATE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "template.yaml"
PLACEHOLDER_CODE = "s3://darkroom-artifacts/lambda.zip"


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs; offline there are none."""

    def load(self) -> dict[str, str]:
        return {}


def translate(path: Path) -> dict[str, Any]:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(path.read_text())
    code = template.get("Globals", {}).get("Function", {})
    if isinstance(code.get("CodeUri"), str) and not code["CodeUri"].startswith("s3://"):
        code["CodeUri"] = PLACEHOLDER_CODE
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = PLACEHOLDER_CODE
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return translated


def lint(path: Path) -> str:
    """cfn-lint's findings; empty when there are none."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


def check(path: Path, keep: Path | None = None) -> list[str]:
    """Every problem found; the translated template is written to `keep` if given."""
    problems = [f"template: {line}" for line in lint(path).splitlines()]
    try:
        translated = translate(path)
    except Exception as exc:
        return [*problems, f"SAM translator: {exc}"]
    with tempfile.TemporaryDirectory() as scratch:
        out = keep or Path(scratch) / "translated.json"
        out.write_text(json.dumps(translated, indent=1))
        problems += [f"translated: {line}" for line in lint(out).splitlines()]
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", type=Path, default=TEMPLATE)
    parser.add_argument("--translated", type=Path, help="also write the translated template")
    args = parser.parse_args(argv)
    found = check(args.template, args.translated)
    print("\n".join(found) or "template checks passed")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
