# Quick start: `make demo`, `make test`. Both create .venv with pinned dependencies if missing.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-slow lint format check bench clean

venv: $(STAMP)

$(STAMP): setup.cfg constraints.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first, alone: torch==2.13.0 resolves to the machine's local CPU wheel.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[cuda,neo,nwb,nix,dev]'
	touch $(STAMP)

# The main job: train the store-recall LSNN through its twin, validate it in Brian2's C++ standalone
# mode, and export Brian2's activity as Neo with a raster plot. A few minutes on 2 CPU cores.
DEMO := runs/demo
demo: $(STAMP)
	rm -rf $(DEMO)
	$(VENV)/bin/lsnn-bio train training/store_recall.yaml --out $(DEMO) --threads 1
	$(VENV)/bin/lsnn-bio validate $(DEMO)/checkpoint.safetensors --engine cpp_standalone --trials 128 --build-dir $(DEMO)/brian_build
	$(VENV)/bin/lsnn-bio simulate $(DEMO)/checkpoint.safetensors --trials 3 --record v,A --out $(DEMO)/activity.nix --raster $(DEMO)/raster.png --build-dir $(DEMO)/brian_simulate
	@echo "Run folder: $(DEMO) (checkpoint, metrics.jsonl, summary.json, activity.nix, raster.png)"

# The 12 slowest tests are listed at the end: the suite must stay under 15 minutes on 2 cores.
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q --durations=12

# The long sweeps (300 generated models against Brian2, ...): run before resolving twin changes.
test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

# Pyflakes, import order and pyupgrade rules, and the formatter's verdict (pyproject.toml configures both).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Twin speed against baselines measured in the same run (Norse only if installed:
# .venv/bin/pip install --no-deps norse==1.1.0 nir nirtorch). Run it on a quiet machine.
bench: $(STAMP)
	$(VENV)/bin/python -c "import norse" 2>/dev/null || $(VENV)/bin/pip install -q --no-deps norse==1.1.0 nir nirtorch
	$(VENV)/bin/python benchmarks/twin_speed.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
