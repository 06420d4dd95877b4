# make demo | make test | make bench — each creates the virtualenv it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test lint web-vendor bench bench-index bench-index-100m bench-listindex fuzz fuzz-smoke clean

# the workbench's browser libraries (package.json pins them; web/vendor.py says which files)
VENDORED := src/cairn/web/static/vendor/.copied
$(VENDORED): package.json package-lock.json src/cairn/web/vendor.py
	npm ci --ignore-scripts --no-audit --no-fund
	$(PYTHON) src/cairn/web/vendor.py node_modules
	touch $@

web-vendor: $(VENDORED)

$(VENV)/.installed: pyproject.toml $(VENDORED)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,cluster]'
	touch $@

$(VENV)/.bench: $(VENV)/.installed
	$(PIP) install -q -e '.[test,bench]'
	touch $@

$(VENV)/.fuzz: $(VENV)/.installed
	$(PIP) install -q -e '.[test,fuzz]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/cairn demo --out demo-out
	$(VENV)/bin/cairn demo --scenario operation --out demo-operation

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench fuzz
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -q

bench: $(VENV)/.bench
	$(PY) bench/bench_scan.py
	$(PY) bench/bench_pdq.py
	$(PY) bench/bench_robustness.py
	$(PY) bench/bench_video.py
	$(PY) bench/bench_lists.py
	$(PY) bench/bench_trace.py

bench-index: $(VENV)/.bench
	$(PY) bench/bench_index.py --sizes 1M,10M

# 100M hashes: ~15 GB of memory and ~20 GB of disk under /tmp/index-bench, ~30 min; not in
# `make bench`. Guarded: nice, a virtual-memory cap, and the bench's own memory guard.
bench-index-100m: $(VENV)/.bench
	ulimit -v 24000000 && nice $(PY) bench/bench_index.py --sizes 100M --per-centre 10 \
		--append 1M --join 100k --out /tmp/index-bench

bench-listindex: $(VENV)/.bench
	$(PY) bench/bench_listindex.py --size 10M --append 100k

# coverage-guided fuzzing (atheris) of every reader of evidence bytes; fuzz/run.py says more
FUZZ_SECONDS ?= 600
fuzz: $(VENV)/.fuzz
	nice -n 10 $(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

fuzz-smoke: $(VENV)/.fuzz
	$(PY) fuzz/run.py --seconds 20

clean:
	rm -rf $(VENV) node_modules src/cairn/web/static/vendor demo-out demo-operation .pytest_cache .mypy_cache
