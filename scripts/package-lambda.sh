#!/usr/bin/env bash
# Builds build/lambda/ (or $BUILD/lambda/), the code of every Lambda function in
# infra/template.yaml: darkroom and its dependencies as wheels for Linux on arm64
# (Graviton) and CPython 3.12, pinned by requirements.txt. Wheels only, but for pyvips,
# pure Python published as source alone, made into a wheel for any machine here: nothing
# is compiled for the wrong machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-.venv/bin/python -m pip}"
BUILD="${BUILD:-build}"
OUT="$BUILD/lambda"

rm -rf "$OUT" "$BUILD/wheels"
mkdir -p "$BUILD"
# pip takes no extras in a constraint (requirements.txt pins moto[server] for the tests).
sed 's/\[[^]]*\]//' requirements.txt > "$BUILD/constraints.txt"
$PIP wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$BUILD/wheels" . \
  "pyvips==$(sed -n 's/^pyvips==//p' requirements.txt)"
if ls "$BUILD"/wheels/pyvips-*.whl | grep -qv -- '-none-any\.whl$'; then
  echo "pyvips was built for this machine, not for any: $(ls "$BUILD"/wheels/pyvips-*)" >&2
  exit 1
fi
wheel=$(ls "$BUILD"/wheels/darkroom-*.whl)
$PIP install --quiet --disable-pip-version-check \
  --target "$OUT" \
  --implementation cp --python-version 3.12 --abi cp312 \
  --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
  --only-binary=:all: --find-links "$BUILD/wheels" \
  --constraint "$BUILD/constraints.txt" \
  "${wheel}[aws,postgres,mysql]"
# Tests, caches and type stubs only make the archive larger (Lambda allows 250 MB unzipped).
find "$OUT" -depth -type d \( -name __pycache__ -o -name tests \) -exec rm -rf {} +
rm -rf "$OUT"/bin
echo "$(du -sh "$OUT" | cut -f1) in $OUT"
