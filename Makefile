# adarchive: the two commands are `make demo` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TOOLS := .tools

.PHONY: setup tools demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

# Independent verification tools live in their own venvs: they pin old
# dependencies that would clash with ours (see shared NOTES: pywb, py-wacz).
tools: $(TOOLS)/pywb/.installed $(TOOLS)/wacz/.installed $(TOOLS)/replaywebpage/.installed

$(TOOLS)/pywb/.installed:
	$(PYTHON) -m venv $(TOOLS)/pywb
	$(TOOLS)/pywb/bin/pip install -q --upgrade pip
	$(TOOLS)/pywb/bin/pip install -q 'pywb==2.10.*'
	touch $@

$(TOOLS)/wacz/.installed:
	$(PYTHON) -m venv $(TOOLS)/wacz
	$(TOOLS)/wacz/bin/pip install -q --upgrade pip
	$(TOOLS)/wacz/bin/pip install -q 'wacz==0.6.0'
	touch $@

# ReplayWeb.page's static build (index.html, sw.js, ui.js), for replay tests in
# headless Chromium. `npm install replaywebpage` fails on a missing warcio
# version; the published tarball already holds the built files.
REPLAYWEBPAGE_VERSION ?= 2.4.6
$(TOOLS)/replaywebpage/.installed:
	rm -rf $(TOOLS)/replaywebpage && mkdir -p $(TOOLS)/replaywebpage
	cd $(TOOLS)/replaywebpage && npm pack -q replaywebpage@$(REPLAYWEBPAGE_VERSION) \
		&& tar xzf replaywebpage-$(REPLAYWEBPAGE_VERSION).tgz --strip-components=1 \
		&& rm replaywebpage-$(REPLAYWEBPAGE_VERSION).tgz
	test -f $(TOOLS)/replaywebpage/sw.js && test -f $(TOOLS)/replaywebpage/ui.js
	touch $@

demo: setup
	$(VENV)/bin/adarchive demo --out demo-output

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup tools lint
	$(PY) -m pytest -q

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf demo-output .pytest_cache .ruff_cache
