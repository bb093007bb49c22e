# One-word tasks. Each sets up .venv on first use (and again when requirements change):
# `demo` and `app` install what running needs (requirements.txt); `test`, `lint` and
# `bench` add the development tools (requirements-dev.txt: the test tools, and
# llama-cpp-python, which pip builds from source the first time: ~5 minutes).
VENV ?= .venv
# Test processes: each runs torch on one thread (tests/conftest.py); one per core and
# one more, which computes while another waits on a subprocess or a server it started
# (2-core AMD EPYC: 26-31 min with 3, 28.5 min with 4, 29.5-30 min with 2).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
PY := $(VENV)/bin/python

.PHONY: demo test lint app bench

$(VENV)/.runtime: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

demo: $(VENV)/.runtime
	$(VENV)/bin/textgen demo

test: $(VENV)/.installed lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

app: $(VENV)/.runtime
	$(PY) app.py

bench: $(VENV)/.installed
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/eval_throughput.py
	$(PY) benchmarks/train_tiers.py
	$(PY) benchmarks/generate_throughput.py
	$(PY) benchmarks/data_prep.py
	$(PY) benchmarks/memorization.py
	$(PY) benchmarks/export_runtimes.py
	$(PY) benchmarks/chat_data.py
	$(PY) benchmarks/chat_quality.py
