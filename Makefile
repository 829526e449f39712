# darkroom: `make run` serves the gallery, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INFRA := build/infra-venv
INFRA_STAMP := $(INFRA)/.installed

.PHONY: run test lint unit setup services clean package infra-tools

run: $(STAMP)
	$(BIN)/python -m darkroom serve

test: $(STAMP) $(INFRA_STAMP) services
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	scripts/ensure-browser.sh
	$(BIN)/python -m pytest --durations=20

lint: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

services:
	scripts/ensure-services.sh

# The Lambda functions' code (arm64 wheels) for infra/template.yaml; see "Deploy to AWS" in the README.
package: $(STAMP)
	scripts/package-lambda.sh

# cfn-lint and the SAM translator for the template checks, in a venv of their own: the
# translator pins an older pydantic than darkroom's.
infra-tools: $(INFRA_STAMP)

$(INFRA_STAMP): infra/requirements.txt
	test -x $(INFRA)/bin/python || $(PYTHON) -m venv $(INFRA)
	$(INFRA)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $(INFRA_STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
