# 乡音 — every command a newcomer needs. `make run` and `make test` set up
# whatever is missing (Python 3.10 venv, packages, generated files, the model)
# and skip what is already done.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
RASA     := $(VENV)/bin/rasa
STAMP    := $(VENV)/.installed
MODEL    := models/xiangyin.tar.gz
# Python 3.10: on PATH, else any pyenv 3.10.x (Rasa 3.6 supports 3.8–3.10 only).
PYTHON310 ?= $(shell for p in python3.10 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null | sort -V | tail -1); do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { command -v $$p; break; }; done)

KNOWLEDGE := $(wildcard knowledge/*.yml)
GENERATED := build/jieba_dict/xiangyin.txt nlu_data/generated/lookups.yml
TRAIN_INPUTS := config.yml domain.yml $(wildcard nlu_data/*.yml nlu_data/*/*.yml) \
	$(GENERATED) $(wildcard nlu_components/*.py) knowledge/text.py \
	knowledge/frontend.yml knowledge/case_rules.yml

export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup generate train run test test-fast lint bench lock clean

help:
	@echo "make run    — set up if needed and chat with the assistant (terminal)"
	@echo "make test   — set up if needed, train if the data changed, run every test"
	@echo "make bench  — NLU per register, simulated villagers, speed, case store, Telegram, fuzz → results/"

$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "Python 3.10 is required (Rasa Open Source 3.6 supports Python 3.8–3.10 only)."; \
	  echo "Install it, then run make again:  pyenv install 3.10  (or: apt-get install python3.10 python3.10-venv)"; \
	  exit 1; fi
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<25" "setuptools<71" wheel
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	$(PY) -m pip check
	@touch $@

setup: $(STAMP)

$(GENERATED) &: $(STAMP) $(KNOWLEDGE) nlu_components/dictionary.py knowledge/loader.py
	$(PY) -m xiangyin generate --root .

generate: $(GENERATED)

$(MODEL): $(STAMP) $(TRAIN_INPUTS)
	@mkdir -p results models
	@# One training at a time: two would write the same model file.
	@start=$$(date +%s); \
	flock models/.train.lock $(RASA) train --data nlu_data --config config.yml --domain domain.yml \
	  --out models --fixed-model-name xiangyin --quiet && \
	echo "{\"training_seconds\": $$(( $$(date +%s) - start ))}" > results/train-time.json
	@touch $@

train: $(MODEL)

run: $(MODEL)
	$(PY) -m xiangyin run --model $(MODEL)

test: $(MODEL)
	$(PY) -m xiangyin knowledge check
	$(RASA) data validate --data nlu_data --domain domain.yml --config config.yml --quiet
	$(PY) -m pytest -p no:cacheprovider

# Style, the type check of the records' domain and services, and the import contracts
# (pyproject.toml [tool.mypy] and [tool.importlinter]).
lint: $(STAMP)
	$(VENV)/bin/ruff check xiangyin actions nlu_components records bot knowledge playground benchmarks tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# BENCH_TRAIN=1 also times a fresh full training (else: the last `make train`).
bench: $(MODEL)
	BENCH_TRAIN=$${BENCH_TRAIN:-0} $(PY) -m benchmarks.nlu --model $(MODEL)
	$(PY) -m benchmarks.conversations
	$(PY) -m benchmarks.cases
	@if [ -f benchmarks/bot.py ]; then $(PY) -m benchmarks.bot; fi
	$(PY) -m benchmarks.fuzz

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | sed '1i # Exact versions resolved for Python 3.10 with rasa 3.6.21 (pip check clean).\n# Regenerate: make lock' > constraints.txt

clean:
	rm -rf build models nlu_data/generated results/*.json .rasa
