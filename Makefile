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
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/polymodal bench --out runs/demo-bench

# docs/results.md: every preset on synthetic, digits-av (clean and degraded) and Tatoeba. Needs the
# FSDD recordings (POLYMODAL_FSDD_DIR) and hours of CPU; finished cells are kept if interrupted.
RESULTS ?= runs/results
RESULT_SPECS := presets digits-degraded tatoeba
results: $(STAMP)
	for spec in $(RESULT_SPECS); do \
		$(BIN)/polymodal bench configs/bench-$$spec.yaml --out $(RESULTS)/$$spec || exit 1; \
	done
	$(BIN)/python benchmarks/results_page.py $(addprefix $(RESULTS)/,$(RESULT_SPECS)) > docs/results.md

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

clean-venv:
	rm -rf $(VENV)
