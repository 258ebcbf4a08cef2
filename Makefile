# Quick start: `make demo`, `make test`. Both create .venv with pinned dependencies if missing.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: venv demo test check bench clean

venv: $(STAMP)

$(STAMP): setup.cfg constraints.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first, alone: torch==2.13.0 resolves to the machine's local CPU wheel.
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[cuda,neo,nwb,nix,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lsnn-bio check models/lsnn_store_recall.yaml --steps 2000 --engines twin64,twin32,numpy,cpp_standalone

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/twin_speed.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
