#!/usr/bin/env bash
# Builds build/lambda/, the code of every Lambda function in infra/template.yaml: darkroom
# and its dependencies as wheels for Linux on arm64 (Graviton) and CPython 3.12, pinned
# by requirements.txt. Wheels only: nothing is compiled here for the wrong machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-.venv/bin/python -m pip}"
OUT=build/lambda

rm -rf "$OUT" build/wheels
$PIP wheel --quiet --disable-pip-version-check --no-deps --wheel-dir build/wheels .
wheel=$(ls build/wheels/darkroom-*.whl)
$PIP install --quiet --disable-pip-version-check \
  --target "$OUT" \
  --implementation cp --python-version 3.12 --abi cp312 \
  --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
  --only-binary=:all: \
  --constraint requirements.txt \
  "${wheel}[aws,postgres,mysql]"
# Tests, caches and type stubs only make the archive larger (Lambda allows 250 MB unzipped).
find "$OUT" -depth -type d \( -name __pycache__ -o -name tests \) -exec rm -rf {} +
rm -rf "$OUT"/bin
echo "$(du -sh "$OUT" | cut -f1) in $OUT"
