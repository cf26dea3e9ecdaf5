# Two commands for a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use; later runs find it up to date and start at once.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HYPOTHESIS_PROFILE ?= ci

.PHONY: demo test lint bench bench-forward test-torchvision docs notebooks clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,docs]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m atrous demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check atrous reference tests bench docs chapters

bench: $(STAMP)
	$(PY) bench/reference_conv.py
	$(PY) bench/data.py

# A separate environment with torchvision, for the comparison with its DeepLabv3 and the speed
# benchmark; both wheels lie on this machine's disk (about 5.5 GB installed, a minute).
TV_VENV := .venv-tv
TV_PY := $(TV_VENV)/bin/python
TV_STAMP := $(TV_VENV)/.installed

$(TV_STAMP): pyproject.toml
	test -x $(TV_PY) || $(PYTHON) -m venv $(TV_VENV)
	$(TV_PY) -m pip install --quiet --upgrade pip
	$(TV_PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(TV_PY) -m pip install --quiet --no-deps -e .
	$(TV_PY) -m pip install --quiet pytest hypothesis numpy matplotlib tqdm pillow scipy
	touch $(TV_STAMP)

test-torchvision: $(TV_STAMP)
	$(TV_PY) -m pytest -q -m torchvision tests/test_torchvision.py

bench-forward: $(TV_STAMP)
	$(TV_PY) bench/forward.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TV_VENV) runs figures .pytest_cache .hypothesis

# The documentation site (mkdocs.yml) into docs/_build: executes the chapters whose executed
# notebook (docs/_executed, written by the chapter tests) is stale, then builds strictly.
docs: $(STAMP)
	$(PY) -m mkdocs build --strict

# The chapters as executed notebooks in docs/_executed/chapters (ATROUS_CHAPTER_SMALL=0: full size).
notebooks: $(STAMP)
	$(PY) -m docs.notebooks
