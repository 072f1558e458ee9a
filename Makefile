# Every target creates .venv and installs runbench into it when needed, so a fresh clone needs
# nothing but python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STORE ?= demo_results

.PHONY: demo test browser faketime lint typecheck format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_STORE)
	$(BIN)/runbench smart-batch --model sim-strong,sim-average,sim-weak --prompt-types all,flawed_missing_step --num-instances 10 --store $(DEMO_STORE) --quiet
	$(BIN)/runbench smart-batch --model sim-strong,sim-average,sim-weak --prompt-types all,flawed_missing_step --num-instances 10 --store $(DEMO_STORE) --quiet
	$(BIN)/runbench verify --store $(DEMO_STORE)
	$(BIN)/runbench migrate --store $(DEMO_STORE)
	$(BIN)/runbench migrate --legacy tests/fixtures/legacy_v3_master_database.json --store $(DEMO_STORE) --storage parquet
	$(BIN)/runbench report --store $(DEMO_STORE) --storage parquet
	$(BIN)/runbench compare sim-strong sim-weak --store $(DEMO_STORE) --storage parquet
	$(BIN)/runbench report --store $(DEMO_STORE) --storage parquet --format html --output $(DEMO_STORE)/report.html --plot $(DEMO_STORE)/rates.png

# the viewer's tests drive a real headless browser: Debian's Chromium, installed when missing
browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# the fencing tests run a second run with its clock a minute ahead: Debian's faketime, when missing
faketime:
	command -v faketime >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null; }

test: $(STAMP) browser faketime typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --durations=25

# mypy reads packages from folders; runbench.X lives in top-level X/, so a tree of links lays
# the package out as Python sees it once installed, and mypy checks that.
TYPECHECK := build/typecheck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/runbench
	for f in runbench/*; do ln -s "$$PWD/$$f" $(TYPECHECK)/runbench/; done
	for p in storage migrate analysis workload clients runners viewer cli; do ln -s "$$PWD/$$p" $(TYPECHECK)/runbench/$$p; done
	cd $(TYPECHECK) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p runbench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_STORE) runbench_results .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
