# cleanloop: `make demo` runs the bundled end-to-end demo, `make test` runs the test suite.
# Each target installs what it needs first (a .venv with pip, and Chromium when missing).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench browser clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Chromium for the browser probe (and ffmpeg for screencasts): found, installed with apt-get
# when root, or an instruction. Without ffmpeg, screencasts become animated GIFs (Pillow).
browser:
	@found=""; \
	if [ -n "$$CLEANLOOP_CHROMIUM" ] && [ -x "$$CLEANLOOP_CHROMIUM" ]; then found=1; fi; \
	for b in chromium google-chrome chromium-browser google-chrome-stable; do \
	  if command -v $$b >/dev/null 2>&1; then found=1; fi; done; \
	missing=""; [ -n "$$found" ] || missing="chromium"; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing$$missing with apt-get ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	elif [ -z "$$found" ]; then \
	  echo "cleanloop needs Chromium or Chrome for browser steps. Install it, e.g."; \
	  echo "  sudo apt-get install chromium        (Debian/Ubuntu)"; \
	  echo "or point CLEANLOOP_CHROMIUM at a Chrome/Chromium executable."; exit 1; \
	fi

demo: $(STAMP) browser
	$(VENV)/bin/cleanloop demo

test: $(STAMP) browser
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check cleanloop loop probes collectors tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP) browser
	$(PY) bench/ingest.py
	$(PY) bench/overhead.py
	$(PY) bench/browser.py
	$(PY) bench/verify_cost.py
	$(PY) bench/loop_overhead.py
	$(PY) bench/gate_quality.py

clean:
	rm -rf $(VENV) .cleanloop .mypy_cache .ruff_cache .pytest_cache
