# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use; later runs find it up to date and start at once.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HYPOTHESIS_PROFILE ?= ci

.PHONY: demo test lint fig4 bench test-torchvision clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m atrous demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check atrous reference tests bench

bench: $(STAMP)
	$(PY) bench/reference_conv.py
	$(PY) bench/data.py

clean:
	rm -rf $(VENV) runs figures .pytest_cache .hypothesis
