# The book's commands. Everything runs inside .venv, which the first target that needs it creates.
#   make book     build the HTML book from the committed notebook outputs (the main job)
#   make test     unit tests, every notebook re-executed (nbval, cpu profile), the book built with -W
#   make execute  re-run every notebook top to bottom and write the outputs back (cpu profile)
#   make lab      open JupyterLab on the chapters
#   make model    prepare the offline SmolLM2-135M-Instruct under models/
#   make clean    remove build output (keeps .venv and models/; `make distclean` removes those too)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ftlib-installed
MODEL := models/smollm2-135m-instruct/ftlib-model.json
JB := $(VENV)/bin/jupyter-book build . --builder html -W -n --keep-going
# The notebook kernels must run the venv's Python, whatever the caller's PATH holds.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: book test unit nbval execute lab model setup clean distclean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(MODEL): | $(STAMP)
	$(PY) -m ftlib.models prepare

model: $(STAMP)
	$(PY) -m ftlib.models prepare

book: $(MODEL)
	$(JB)
	@echo "The book is at $(abspath _build/html/index.html)"

unit: $(MODEL)
	FTLIB_PROFILE=smoke $(PY) -m pytest tests -q

nbval: $(MODEL)
	FTLIB_PROFILE=cpu $(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=1200 -p no:cacheprovider -q chapters

test: unit nbval
	$(JB)
	@echo "make test: all passed"

execute: $(MODEL)
	FTLIB_PROFILE=cpu $(PY) tools/execute_notebooks.py

lab: $(MODEL)
	$(PY) -m jupyterlab chapters

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) models
