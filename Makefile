# Kafka Streaming Lab. Two commands on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
LAB := $(VENV)/bin/kafkalab
STAMP := $(VENV)/.installed
SECONDS ?= 60
PYTEST_ARGS ?=

.PHONY: run test test-unit report lab bench profile-view cluster-up cluster-down status clean

# The exact versions the lab was measured with (requirements.lock), then the package itself.
$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $(STAMP)

## run: local cluster up if needed, the whole pipeline for SECONDS, the bounded benchmark set, results/,
## report.html; stops what it started. The report is rendered even when an experiment failed (and says so).
## One local cluster serves every step (each would otherwise start and stop its own): started here
## when nothing answers and KAFKA_BOOTSTRAP_SERVERS names no cluster of the user's, stopped at the end.
run: $(STAMP)
	@own=; if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ] && ! $(LAB) cluster status >/dev/null 2>&1; then \
	  own=1; $(LAB) cluster up || exit 1; fi; \
	trap 'if [ -n "$$own" ]; then $(LAB) cluster down; fi' EXIT; \
	$(LAB) run --seconds $(SECONDS) || exit 1; \
	$(LAB) bench report-set; status=$$?; $(LAB) report && exit $$status

## test: the whole suite against a real 3-node cluster that the session starts and stops
test: $(STAMP)
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

## test-unit: the unit tests only (no cluster, no broker; a quick check while editing)
test-unit: $(STAMP)
	$(PY) -m pytest -q -ra tests/unit $(PYTEST_ARGS)

## report: execute report.ipynb on results/ and render report.html
report: $(STAMP)
	$(LAB) report

## lab: JupyterLab on 127.0.0.1:8888 against the local cluster (token printed; set JUPYTER_TOKEN to choose it)
## The notebooks find the cluster through the same settings as the CLI (local cluster unless
## KAFKA_BOOTSTRAP_SERVERS says otherwise). The cluster keeps running after JupyterLab exits
## (so a second `make lab` starts at once); the exit message names the command that stops it.
LAB_PORT ?= 8888
# Jupyter refuses to run as root unless told; containers and CI boxes often are root.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)
	$(LAB) cluster up
	trap 'echo "JupyterLab has stopped; the Kafka cluster is still running (make cluster-down stops it)"' EXIT; \
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) --no-browser --ServerApp.port_retries=0 \
	  --notebook-dir . --ServerApp.default_url=/lab/tree/notebooks $(LAB_ROOT)

## bench: every benchmark experiment, appending to results/bench/*.csv
bench: $(STAMP)
	$(LAB) bench all

cluster-up: $(STAMP)
	$(LAB) cluster up

cluster-down: $(STAMP)
	$(LAB) cluster down

status: $(STAMP)
	$(LAB) cluster status

clean:
	-$(LAB) cluster down
	rm -rf .run results/data/*.csv results/runs/*.ipynb report.html

## profile-view: SnakeViz on 127.0.0.1 only (PROF=file; default: the newest merged *-all.prof)
PROFILE_PORT ?= 8080
PROF ?= $(shell ls -t results/profiles/*-all.prof 2>/dev/null | head -1)
profile-view: $(STAMP)
	@test -n "$(PROF)" || { echo "no profile yet: $(LAB) profile all"; exit 1; }
	$(VENV)/bin/snakeviz --server --hostname 127.0.0.1 --port $(PROFILE_PORT) $(PROF)
