# The book's commands. Everything runs inside .venv, which the first target that needs it creates.
#   make book     build the HTML book from the committed notebook outputs (the main job)
#   make test     unit tests, every notebook re-executed (nbval, cpu profile), the book built with -W,
#                 then every page checked in a headless browser
#   make execute  re-run every notebook top to bottom and write the outputs back (cpu profile)
#   make experiments  run the sweeps under experiments/ (too long for a chapter) into experiments/results/
#   make bench    time full fine-tuning and LoRA through ftlib's loop and Trainer (bench/results/cpu.*)
#   make student  write _build/student/: chapter notebooks without outputs and solutions
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
VENDOR := _vendor/.stamp
JB := $(VENV)/bin/jupyter-book build . --builder html -W -n --keep-going
# The notebook kernels must run the venv's Python, whatever the caller's PATH holds.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: book test unit nbval browser execute experiments bench lab model setup vendor student clean distclean

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

# MathJax and mermaid, served by the book itself (pinned in package.json / package-lock.json).
$(VENDOR): package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --silent
	rm -rf _vendor && mkdir -p _vendor/mathjax _vendor/mermaid/chunks
	# MathJax: the TeX-to-HTML bundle and what it loads on demand (extensions, fonts, menu, accessibility)
	cd node_modules/mathjax/es5 && cp -r tex-chtml.js input output a11y sre ui adaptors ../../../_vendor/mathjax/
	cp node_modules/mermaid/dist/mermaid.esm.min.mjs _vendor/mermaid/
	cp -r node_modules/mermaid/dist/chunks/mermaid.esm.min _vendor/mermaid/chunks/
	find _vendor -name '*.map' -delete
	@touch $@

vendor: $(VENDOR)

book: $(MODEL) $(VENDOR)
	$(JB)
	@echo "The book is at $(abspath _build/html/index.html)"

unit: $(MODEL)
	FTLIB_PROFILE=smoke $(PY) -m pytest tests -q

nbval: $(MODEL)
	FTLIB_PROFILE=cpu PYTHONPATH=tools $(PY) -m pytest -p nbval_timings --nbval-lax --nbval-current-env --nbval-cell-timeout=1200 -p no:cacheprovider -q chapters

# The browser check drives Debian's chromium (installed here when missing) with Playwright.
# It checks _build/html; BOOK_HTML=/path/to/html checks another build (screenshots go next to it).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(PY) -m pytest -m browser tests/site -q

test: unit nbval $(VENDOR)
	$(JB)
	$(MAKE) --no-print-directory browser
	@$(PY) tools/nbval_timings.py
	@echo "make test: all passed"

student: $(STAMP)
	$(PY) tools/student_edition.py

execute: $(MODEL)
	FTLIB_PROFILE=cpu $(PY) tools/execute_notebooks.py

# Sweeps too long for a chapter's CPU budget; each writes experiments/results/NN_*.json with provenance.
experiments: $(MODEL)
	@for script in experiments/[0-9][0-9]_*.py; do \
		test -e "$$script" || continue; \
		echo "== $$script"; FTLIB_PROFILE=cpu $(PY) "$$script"; \
	done

bench: $(MODEL)
	$(PY) bench/train_speed.py --name cpu

lab: $(MODEL)
	$(PY) -m jupyterlab chapters

clean:
	rm -rf _build _vendor

distclean: clean
	rm -rf $(VENV) models node_modules artifacts
