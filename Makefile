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

# ONNX Runtime Web for the docs page "In your browser", the version package-lock.json pins,
# where npm is installed (without it the page builds and says that it cannot run; its browser
# test skips, and fails under CI=true, where .ci/run installs nodejs and npm).
NODE_STAMP := $(if $(shell command -v npm 2>/dev/null),node_modules/.package-lock.json)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

demo: $(STAMP)
	$(PY) -m atrous demo

test: $(STAMP) $(NODE_STAMP)
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

# The documentation site (mkdocs.yml) into docs/_build, strictly. The chapters' pages are their
# committed full-size notebooks (docs/chapters-executed, `make notebooks`); a chapter that has
# none yet shows its quick smoke run instead (docs/_executed, written by the chapter tests, else
# executed now), under a banner that says so.
docs: $(STAMP) $(NODE_STAMP)
	$(PY) -m mkdocs build --strict

# The chapters executed at full size (ATROUS_CHAPTER_SMALL=0) into docs/chapters-executed, to be
# committed: only the stale ones (the chapter, or a results/ file it reads, changed since), one
# after the other, each one's wall time printed (minutes each: docs/README.md).
# `make notebooks CHAPTERS="02 05"` picks chapters; `$(PY) -m docs.notebooks --check` says which
# are stale and why (tests/test_executed_chapters.py fails on a stale one).
notebooks: $(STAMP)
	ATROUS_CHAPTER_SMALL=0 $(PY) -m docs.notebooks $(CHAPTERS)
