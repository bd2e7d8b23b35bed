# Two commands for a new user:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMVENV := .venv-sam
SAM    := $(SAMVENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: dev demo test unit integration e2e lint typecheck format sam-validate sam-validate-flows config-check deploy sam-build sam-sizes security bench bench-smoke ci clean event-schemas

$(BIN)/appflow-ingest: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@touch $@

dev: $(BIN)/appflow-ingest  ## install everything into .venv

demo: dev  ## run a full AppFlow run through the pipeline on the embedded emulator
	$(BIN)/appflow-ingest demo

# The suite runs on every core (pytest-xdist): each worker starts its own moto server, tests isolate
# themselves by stack name, and whole files go to one worker so module fixtures are built once.
# Its three layers run alone too: unit (no AWS, seconds), integration (services and adapters
# against moto's server over HTTP), e2e (the stack provisioned from template.yaml and driven through
# the CLI or the local runtime).
test: dev  ## the whole test suite (unit + integration + e2e + bench smoke)
	$(BIN)/pytest -n auto --dist loadfile

unit: dev
	$(BIN)/pytest tests/unit

integration: dev
	$(BIN)/pytest -n auto --dist loadfile tests/integration

e2e: dev
	$(BIN)/pytest -n auto --dist loadfile tests/e2e

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy strict on the Lambda layer (pyproject.toml [tool.mypy]); the stub packages come with `make dev`.
# Each handler is a module named `app`, so each is checked on its own, the layer it imports as already checked.
typecheck: dev
	$(BIN)/mypy
	for handler in functions/*/app.py; do $(BIN)/mypy --follow-imports=silent $$handler || exit 1; done

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# SAM CLI pins its own boto3 and cfn-lint: it lives in its own virtual environment, at a pinned
# version so that `sam validate --lint` judges the template the same way on every machine.
SAM_CLI_VERSION ?= 1.170.0

$(SAM):
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --upgrade pip
	$(SAMVENV)/bin/pip install --quiet 'aws-sam-cli==$(SAM_CLI_VERSION)'

# `sam build` for a python3.13 runtime runs the first `python3.13` on PATH. Find a real one (a pyenv
# shim that resolves to no installed 3.13 does not count): PATH, then `pyenv root`, $$PYENV_ROOT,
# ~/.pyenv and /root/.pyenv. Set PY313_DIR=/some/bin to choose one.
PY313_CANDIDATES = "$$(command -v python3.13)" \
	"$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 \
	"$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.13*/bin/python3.13 \
	/root/.pyenv/versions/3.13*/bin/python3.13
PY313_DIR ?= $(shell for p in $(PY313_CANDIDATES); do \
	[ -x "$$p" ] && "$$p" -c 'import sys, pip; assert sys.version_info[:2] == (3, 13); print(sys.executable)' \
	2>/dev/null && break; done | head -n 1 | xargs -r dirname)

# Reads samconfig.toml ([default.validate.parameters] lint = true, [default.build.parameters]).
sam-validate: $(SAM)
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION) -t examples/consumer/template.yaml

# The EventBridge schema registry in template.yaml, rendered from schemas/*.schema.json (run it after
# editing a schema; tests/unit/test_event_schemas.py fails until then).
event-schemas: dev
	$(BIN)/python -m appflow_local.consumers.event_schemas --write

# The configuration files against their schema and each other, and samconfig.toml's rendered
# parameters against them (docs/configuration.md).
ENVS ?= dev prod
config-check: dev
	$(BIN)/appflow-ingest config check config/*.yaml
	for env in $(ENVS); do $(BIN)/appflow-ingest config render config/$$env.yaml --env $$env --check || exit 1; done

# sam validate --lint on the template as each environment deploys it, flows declared: the parameters
# its configuration renders become the defaults of a copy, so cfn-lint checks AWS::AppFlow::Flow.
sam-validate-flows: $(SAM) dev
	for env in $(ENVS); do \
	  $(BIN)/appflow-ingest config template config/$$env.yaml --stack-name appflow-ingest-$$env \
	    --out .aws-sam/lint/template-$$env.json && \
	  $(SAM) validate --lint --region $(AWS_DEFAULT_REGION) --template .aws-sam/lint/template-$$env.json || exit 1; \
	done

# Deploy one environment (docs/deploying.md): the configuration is checked before anything changes,
# then the stack is built and deployed, then the configuration pushed where the functions read it.
ENV ?= dev
deploy: config-check sam-build
	$(SAM) deploy --config-env $(ENV)
	$(BIN)/appflow-ingest config push config/$(ENV).yaml \
	  --stack-name $$($(BIN)/python -c "import tomllib; print(tomllib.load(open('samconfig.toml', 'rb'))['$(ENV)']['deploy']['parameters']['stack_name'])")

# Policy as code (docs/security.md): checkov and cfn-lint judge template.yaml; a finding not in
# .checkov.yaml's skip list (each skipped check with its reason) fails. checkov pins its own
# dependencies, so like SAM CLI it has a virtual environment of its own, at a pinned version;
# cfn-lint is the one SAM CLI pins (already installed for sam-validate).
CHECKOV_VERSION ?= 3.3.30
CHECKOVVENV := .venv-checkov
CHECKOV := $(CHECKOVVENV)/bin/checkov

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOVVENV)
	$(CHECKOVVENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOVVENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'

security: $(CHECKOV) $(SAM)
	$(SAMVENV)/bin/cfn-lint template.yaml
	$(CHECKOV) --config-file .checkov.yaml

sam-build: $(SAM)
	@test -n "$(PY313_DIR)" || { echo "sam-build: no python3.13 found (PATH, pyenv, /root/.pyenv);" \
	  "install one (pyenv install 3.13) or set PY313_DIR" >&2; exit 1; }
	PATH="$(PY313_DIR):$(CURDIR)/$(SAMVENV)/bin:$$PATH" $(SAM) build

# Unzipped size of each function with its layers against Lambda's 250 MB (fails above it).
sam-sizes: dev sam-build
	$(BIN)/python bench/package_sizes.py

# Benchmarks (README, Benchmarks): bench/run.py (throughput, CPU, requests against the baselines:
# same data, same moto server, ratios) then bench/memory.py (peak RSS, small file vs large file).
# bench-smoke runs tiny sizes in seconds (the test suite runs both too); results in bench/results/.
bench: dev
	$(BIN)/python -m bench.run
	$(BIN)/python bench/memory.py --json bench/results/memory.json

bench-smoke: dev
	$(BIN)/python -m bench.run --smoke
	$(BIN)/python bench/memory.py --smoke --json bench/results/memory-smoke.json

# What CI runs (tests, template lint, build, package sizes), with each step timed.
ci:
	bash .ci/run

clean:
	rm -rf $(VENV) $(SAMVENV) $(CHECKOVVENV) .aws-sam
