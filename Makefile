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

# Every bench in one run, then one table of every figure beside its reference and target
# (bench/summary.py; each bench writes its figures to bench-out/figures/). BENCH_SCALE=quick
# runs each at small sizes (a few minutes; the targets are then only indicative, and the
# summary says so). A bench that fails is named at the end and fails the target, after the
# summary; its figures show as not run, or from an earlier run with their date.
BENCH_SCALE ?= full
export BENCH_SCALE
BENCH_STARTED := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BENCH_FAILED := bench-out/bench-failed.txt
ifeq ($(BENCH_SCALE),quick)
SCAN_ARGS := --files 200 --large 6 --hash-files 20 --stage-files 50 --repeats 1
PDQ_ARGS := --files 12,6,2 --drift 20
ROBUST_ARGS := --originals 20 --distractors 100
VIDEO_ARGS := --seconds 4 --repeat 1
LISTS_ARGS := --media 20000
TRACE_ARGS := --items 20000
INDEX_ARGS := --sizes 100k --join 10k --append 10k
API_ARGS := --entries 20k --client raw --requests 2k --seconds 5 --batch 10k --no-faiss
INGEST_ARGS := --size 64M --workdir /tmp/ingest-bench-quick
APPEND_ARGS := --size 200k --append 20k --home /tmp/append-bench-quick
CLUSTER_ARGS := --files 40
else
INDEX_ARGS := --sizes 1M,10M
API_ARGS := --entries 10M --client raw --home bench-out/api-10M
INGEST_ARGS := --size 4G
# 10M, not the issue's 100M: a 100M list is ~33 GB of SQLite (the summary shows the size)
APPEND_ARGS := --size 10M --append 1M --home bench-out/append-10M
endif
RUN_BENCH = $(PY) bench/$(1).py $(2) || echo $(1) >> $(BENCH_FAILED)

bench: $(VENV)/.bench
	@mkdir -p bench-out && rm -f $(BENCH_FAILED)
	$(call RUN_BENCH,bench_scan,$(SCAN_ARGS))
	$(call RUN_BENCH,bench_pdq,$(PDQ_ARGS))
	$(call RUN_BENCH,bench_robustness,$(ROBUST_ARGS))
	$(call RUN_BENCH,bench_video,$(VIDEO_ARGS))
	$(call RUN_BENCH,bench_lists,$(LISTS_ARGS))
	$(call RUN_BENCH,bench_trace,$(TRACE_ARGS))
	$(call RUN_BENCH,bench_index,$(INDEX_ARGS))
	$(call RUN_BENCH,bench_api,$(API_ARGS))
	$(call RUN_BENCH,bench_ingest,$(INGEST_ARGS))
	$(call RUN_BENCH,bench_append,$(APPEND_ARGS))
	@if [ -n "$$CAIRN_TEST_POSTGRES_URL" ]; then $(call RUN_BENCH,bench_cluster,$(CLUSTER_ARGS)); \
	else echo "bench_cluster: not run (it needs PostgreSQL: CAIRN_TEST_POSTGRES_URL)"; fi
	$(PY) bench/summary.py --since $(BENCH_STARTED)
	@if [ -s $(BENCH_FAILED) ]; then echo "failed:" $$(cat $(BENCH_FAILED)); exit 1; fi

bench-index: $(VENV)/.bench
	$(PY) bench/bench_index.py --sizes 1M,10M

# 100M hashes: ~15 GB of memory and ~20 GB of disk under /tmp/index-bench, ~30 min; not in
# `make bench`. Guarded: nice, a virtual-memory cap, and the bench's own memory guard. Its
# figures (bench-out/figures/bench_index-100M.json) appear in make bench's summary, dated.
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
