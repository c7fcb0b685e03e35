# Countersign: every target creates or refreshes the virtual environment it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CDK    := npx --yes aws-cdk@2.1148.1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: local test synth deploy bench clean

$(STAMP): requirements.txt requirements-dev.txt requirements-scanners.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(PYTHON) -m venv $(VENV)/scanners
	$(VENV)/scanners/bin/pip install --quiet -r requirements-scanners.txt
	touch $(STAMP)

local: $(STAMP)      ## run the whole stack on this machine (no AWS account)
	$(BIN)/countersign local

test: $(STAMP)       ## run the test suite (unit, handlers, workflows, infra, browser)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

synth: $(STAMP)      ## synthesize the CloudFormation template (nag-checked) into cdk.out
	$(BIN)/python app.py

deploy: $(STAMP)     ## deploy to the AWS account of your current credentials
	$(CDK) deploy

bench: $(STAMP)      ## print the benchmark figures recorded in the README
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/decision_path.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/mcp.py
	@echo "(bench/sandbox.py measures the sandbox under load; it takes about 10 minutes)"

clean:
	rm -rf $(VENV) .build cdk.out .pytest_cache
