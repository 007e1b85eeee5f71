# Two commands to remember: `make demo` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat tools/requirements.txt tools/requirements-odoo.txt | cksum | cut -d' ' -f1)

.PHONY: test demo bench odoo lint setup

setup: $(STAMP)

$(STAMP): tools/requirements.txt tools/requirements-odoo.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-r tools/requirements-odoo.txt -r tools/requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

test: $(STAMP)
	$(PY) tools/devtool.py test

demo: $(STAMP)
	$(PY) tools/devtool.py demo

# make bench [ONLY=engine_decisions]: one JSON object per line and benchmark.
bench: $(STAMP)
	@$(PY) tools/devtool.py bench "$(ONLY)"

odoo: $(STAMP)
	$(PY) tools/devtool.py odoo

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff==0.7.4
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
