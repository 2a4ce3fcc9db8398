# One entry point for setup, demo, tests and benchmarks. Everything runs from .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
PM := $(VENV)/bin/partnermatch
export PARTNERMATCH_HOME ?= var

.PHONY: setup demo serve test test-quick lint bench bench-1m bench-smoke clean screenshots

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU torch first: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PM) ingest --profiles data/demo/profiles.jsonl --needs data/demo/needs.jsonl
	@echo "== need-001 (English, Ghana)"; $(PM) match --need need-001 --top 3
	@echo "== need-030 (French, Senegal)"; $(PM) match --need need-030 --top 3
	@echo "== need-041 (Portuguese, Mozambique)"; $(PM) match --need need-041 --top 3
	$(PM) evaluate --qrels data/dev/qrels.tsv --areas data/dev/areas.json
	$(PY) -m service.demo
	$(PM) serve --host 127.0.0.1 --port 8000

serve: setup
	$(PM) serve --host 127.0.0.1 --port 8000

# pytest's exit code 5 (no tests collected) means a broken suite: fail loudly.
test: setup
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-quick: setup
	$(PY) -m pytest -q -m "not slow and not browser"

lint: setup
	$(VENV)/bin/ruff check matcher models service tests bench
	$(VENV)/bin/mypy

# Benchmarks (not tests): each prints a table, writes bench/results/<name>.json and
# compares against a baseline measured in the same run. About 30 minutes on 2 cores the
# first time (the embedding pool is cached in bench/results/cache for later runs).
BENCH_OUT ?= bench/results
bench: setup
	$(PY) bench/bench_encoders.py --out $(BENCH_OUT)
	$(PY) bench/bench_index.py --out $(BENCH_OUT)
	$(PY) bench/bench_match.py --out $(BENCH_OUT)
	$(PY) bench/bench_ingest.py --out $(BENCH_OUT)
	$(PY) bench/bench_http.py --out $(BENCH_OUT)
	$(PY) bench/bench_assign.py --out $(BENCH_OUT)
	$(PY) bench/plot.py --results $(BENCH_OUT) --out docs/benchmarks.png

# 1M vectors: exact vs HNSW build, memory, latency, recall, snapshots (~6 GB RAM, ~30 min).
bench-1m: setup
	$(PY) bench/bench_index.py --sizes 1000000 --name index-1m --out $(BENCH_OUT)

bench-smoke: setup
	$(PY) -m pytest -q tests/bench

# Screenshots of every main page at desktop and phone widths (needs Debian's chromium).
screenshots: setup
	PYTHONPATH=. $(PY) tests/web/screenshots.py

clean:
	rm -rf var .pytest_cache
