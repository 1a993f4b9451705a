# adarchive: the two commands are `make demo` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TOOLS := .tools

.PHONY: setup browser tools demo test test-fast lint bench clean screenshots
BROWSER_TIMEOUT ?= 300
BROWSER_CHECK ?= $(PY) -c "from crawler.browser.launch import find_browser; find_browser()"

setup: $(VENV)/.installed browser

# Browser-rendered platforms need a Chromium: Debian's, or Playwright's own
# download, tried with a time limit so an offline machine does not hang. Never
# fails setup: without a browser the demo skips those platforms and says so.
browser: $(VENV)/.installed
	@if $(BROWSER_CHECK) >/dev/null 2>&1; then \
		echo "browser: Chromium found"; \
	else \
		echo "browser: no Chromium; trying Playwright's download (at most $(BROWSER_TIMEOUT)s)"; \
		if timeout $(BROWSER_TIMEOUT) $(VENV)/bin/playwright install chromium >/dev/null 2>&1; then \
			echo "browser: Playwright's Chromium installed"; \
		else \
			echo "browser: download impossible here; the demo will skip browser platforms" \
				"(install one with: apt-get install chromium)"; \
		fi; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

# Independent verification tools live in their own venvs: they pin old
# dependencies that would clash with ours (see shared NOTES: pywb, py-wacz).
tools: $(TOOLS)/pywb/.installed $(TOOLS)/wacz/.installed

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

demo: setup
	$(VENV)/bin/adarchive demo --out demo-output

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# The whole suite, two workers (one per core); a module's tests stay on one
# worker so its module-scoped crawl runs once.
test: setup tools lint
	$(PY) -m pytest -q -n 2 --dist loadscope --durations=15

# The edit loop: no crawls, no browser, nothing slow; under a minute.
test-fast: setup
	$(PY) -m pytest -q -n 2 -m "not crawl and not browser and not slow" --durations=5

# The workbench's main pages at 1280 and 800 px, from a real crawl, into screenshots/.
screenshots: setup
	ADARCHIVE_SCREENSHOTS=$(CURDIR)/screenshots $(PY) -m pytest -q tests/test_workbench_browser.py -k screenshots

bench: setup
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf demo-output screenshots .pytest_cache .ruff_cache
