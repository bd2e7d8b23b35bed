# Two commands for a new user:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMVENV := .venv-sam
SAM    := $(SAMVENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: dev demo test unit integration lint format sam-validate sam-build sam-sizes bench bench-smoke ci clean

$(BIN)/appflow-ingest: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

dev: $(BIN)/appflow-ingest  ## install everything into .venv

demo: dev  ## run a full AppFlow run through the pipeline on the embedded emulator
	$(BIN)/appflow-ingest demo

test: dev  ## the whole test suite (unit + integration against moto's server)
	$(BIN)/pytest

unit: dev
	$(BIN)/pytest tests/unit

integration: dev
	$(BIN)/pytest tests/integration

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# SAM CLI pins its own boto3 and cfn-lint: it lives in its own virtual environment. `sam build`
# for python3.13 needs a python3.13 on PATH (pyenv has one on these machines).
$(SAM):
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --upgrade pip
	$(SAMVENV)/bin/pip install --quiet aws-sam-cli

sam-validate: $(SAM)
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)

sam-build: $(SAM)
	PATH="$(CURDIR)/$(SAMVENV)/bin:$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.13.0/bin:$$PATH" $(SAM) build

ci: lint test sam-validate sam-build

clean:
	rm -rf $(VENV) $(SAMVENV) .aws-sam
