# One-word tasks. Each sets up .venv on first use (and again when requirements change).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint app bench

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -e .
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/textgen demo

test: $(VENV)/.installed lint
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

app: $(VENV)/.installed
	$(PY) app.py

bench: $(VENV)/.installed
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/eval_throughput.py
	$(PY) benchmarks/train_tiers.py
	$(PY) benchmarks/generate_throughput.py
	$(PY) benchmarks/data_prep.py
	$(PY) benchmarks/memorization.py
	$(PY) benchmarks/export_runtimes.py
