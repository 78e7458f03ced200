# Two commands do everything: `make run` (the local stack) and `make test` (every test). Each sets itself up.
SHELL := /bin/bash
PY := .venv/bin/python
# CDK runs on a supported Node.js, pinned in tools/cdk (the npm registry's `node` package), with the pinned CDK CLI;
# jsii (aws-cdk-lib's Python runtime) starts the node JSII_NODE names.
TOOLCHAIN := $(CURDIR)/tools/cdk/node_modules
export JSII_NODE := $(TOOLCHAIN)/.bin/node
CDK := PATH="$(TOOLCHAIN)/.bin:$$PATH" CDK_DISABLE_CLI_TELEMETRY=true $(TOOLCHAIN)/.bin/cdk --no-notices
export PYTHONPATH := $(CURDIR)
PYTEST_ARGS ?=
# `make test`'s workers: one per core of the machine CI runs on (two). A file's tests stay on one worker, so a
# module's fixtures (a launched stack, a built wheel) start once.
TEST_WORKERS ?= 2

.PHONY: test unit sim run lint fmt synth diff deploy cdk bench cli docs layer toolchain dynamodb-local chromium clean

.venv/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The Lambda runtime dependencies for arm64 / python3.13, as deployed; synth packages this folder offline.
build/layer/.installed: functions/requirements.txt stacks/bytecode.py .venv/.installed
	rm -rf build/layer
	$(PY) -m pip install --quiet --platform manylinux2014_aarch64 --implementation cp --python-version 3.13 \
		--only-binary=:all: -r functions/requirements.txt -t build/layer/python
	$(PY) -m stacks.bytecode build/layer/python  # the runtime's bytecode, not this machine's
	touch $@

# The same pinned requirements for this host's CPU and Python: the deployed-asset import test runs with it.
build/layer-host/.installed: functions/requirements.txt .venv/.installed
	rm -rf build/layer-host
	$(PY) -m pip install --quiet -r functions/requirements.txt -t build/layer-host/python
	touch $@

layer: build/layer/.installed build/layer-host/.installed

dynamodb-local: .venv/.installed
	$(PY) -m local.dynamodb --install-only >/dev/null

# Debian's Chromium for the browser tests (Playwright drives it; no browser download of its own).
chromium:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium (needs root)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The AWS SDK for JavaScript v3 that tests/emulator/test_js_sdk.py drives the emulator with: exact versions from
# the npm registry, as package-lock.json pins them.
tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund
	touch $@

lint: .venv/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	.venv/bin/lint-imports --no-cache

fmt: .venv/.installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

$(TOOLCHAIN)/.installed: tools/cdk/package.json tools/cdk/package-lock.json
	npm ci --prefix tools/cdk --no-audit --no-fund
	touch $@

toolchain: $(TOOLCHAIN)/.installed

test: .venv/.installed layer toolchain dynamodb-local chromium tests/js/node_modules/.installed lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The fast layer alone: our rules on in-memory fakes of our own ports (tests/fakes.py); no Java, browser or network.
unit: .venv/.installed
	$(PY) -m pytest tests/unit -q

# The deterministic simulation of the money path (docs/simulation.md), over every core with a progress bar:
# make sim SEEDS=100000; one seed replayed with its trace: make sim SEED=12 [KEEP=3,5,8]; MUTANT=name: a broken variant;
# NO_REFUNDS=1: no world sees an outsider over-bill the buyers and the operator refund it (cli adjust; three in ten do)
# RANDOM_SETTINGS=1: each world runs settings drawn from its seed (schedule, grace, rate, retention, the final hour)
# EMERGENCY_STOPS=1: some worlds see the operator stop live metering (dry-run) for a while (docs/simulation.md)
# QUICK_RETURNS=1: half the buyers back come back and leave again within the final hour they left (docs/simulation.md)
SEEDS ?= 10000
sim: .venv/.installed
	$(PY) -m sim $(if $(SEED),--seed $(SEED) $(if $(KEEP),--keep $(KEEP)),--seeds $(SEEDS)) $(if $(MUTANT),--mutant $(MUTANT)) $(if $(NO_REFUNDS),--no-refunds) $(if $(RANDOM_SETTINGS),--random-settings) $(if $(EMERGENCY_STOPS),--emergency-stops) $(if $(QUICK_RETURNS),--quick-returns)

# REGIONS="eu-west-1 ...": also a metering stack of each (as cdk.json `regions` deploys them)
REGIONS ?=
# the layer and CDK's toolchain: make run routes notifications by the template it synthesizes (local/routing.py)
run: .venv/.installed dynamodb-local layer toolchain
	$(PY) -m local.stack $(foreach region,$(REGIONS),--region-stack=$(region))

synth: .venv/.installed layer toolchain
	$(CDK) synth --quiet

diff: .venv/.installed layer toolchain
	$(CDK) diff

deploy: .venv/.installed layer toolchain
	$(CDK) deploy

# Any other CDK CLI command with the pinned toolchain: make cdk ARGS="bootstrap aws://ACCOUNT/REGION"
cdk: .venv/.installed layer toolchain
	$(CDK) $(ARGS)

bench: .venv/.installed layer dynamodb-local
	$(PY) -m bench

# Documents generated from the code (docs/generate.py); a test fails when they drift.
docs: .venv/.installed
	$(PY) -m docs.generate

# The operator CLI: make cli ARGS="usage --since 6h" (against `make run`'s stack, or --stack NAME for AWS)
cli: .venv/.installed
	$(PY) -m operations.cli $(ARGS)

clean:
	rm -rf build cdk.out .pytest_cache .mypy_cache .ruff_cache
