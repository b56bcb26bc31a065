# The two commands of the README: `make demo` and `make test`. Both install what they need, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := openpool bridge stream_app payments

.PHONY: install services test test-all lint demo bench soak clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Kafka jars (Maven Central) and anvil (npm), cached outside the repo and reused; promtool and kustomize
# for the deployment checks (Debian's prometheus package; kubectl's kustomize or one built from Go modules).
services: install
	$(BIN)/openpool stack install
	scripts/ensure-deploy-tools >/dev/null

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy $(PACKAGES)

test: lint services
	$(BIN)/pytest -m "not slow"

test-all: lint services
	$(BIN)/pytest

demo: services
	$(BIN)/openpool demo

bench: services
	$(BIN)/openpool bench

# Twice the benchmark rate (bench/results.json) for 10 minutes: RSS stays bounded, lag returns to zero.
soak: services
	$(BIN)/openpool soak

clean:
	-$(BIN)/openpool stack down
	rm -rf $(VENV) .openpool
