# adarchive: the two commands are `make demo` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TOOLS := .tools

.PHONY: setup browser tools demo test test-fast test-cpu test-durations lint bench clean screenshots bytecode
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
	$(VENV)/bin/lint-imports

# Bytecode for the run: this machine sets PYTHONDONTWRITEBYTECODE=1, so without it every
# CLI, crawl and writer subprocess a test starts (hundreds) recompiles the modules it imports,
# about 0.3 s of CPU each. Compile once, and let the run (and its children) read and write
# .pyc files under __pycache__ (git-ignored).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest
bytecode: setup
	$(PY) -m compileall -q crawler spiders pipelines tests bench

# The whole suite in parallel; a module's tests stay on one worker so its
# module-scoped crawl runs once. Four workers on two cores: much of a crawl
# test's time is spent waiting (a site's delay, a server, a time-stamp), and the
# third and fourth workers fill those waits (4 against 3: 286-296 s against 313-318 s
# of pytest here). The longest modules start first (tests/conftest.py), the
# browser-egress module among them: its crawls mostly wait. Each worker runs the
# CLI's commands forked from one warm interpreter for the run (tests/cli_forkserver.py).
TEST_WORKERS ?= 4
test: setup tools lint bytecode
	$(PYTEST) -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15

# `make test`, and the CPU each test module spent (tests/cpu_per_test.py): children and
# Chromium included where a cgroup can be made (as root). Wall time drifts with this
# machine's speed; CPU tells whether the suite got cheaper.
test-cpu: setup tools bytecode
	PYTHONPATH=tests $(PYTEST) -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder -p cpu_per_test

# The order a fresh checkout (CI's) starts modules in, longest first: seconds per module from
# this checkout's last runs (pytest's cache), into tests/durations.json.
test-durations:
	$(PY) -c "import collections, json; d = json.load(open('.pytest_cache/v/adarchive/test-durations')); \
		m = collections.defaultdict(float); [m.__setitem__(k.split('::')[0], m[k.split('::')[0]] + v) for k, v in d.items()]; \
		json.dump({k: round(v, 1) for k, v in sorted(m.items())}, open('tests/durations.json', 'w'), indent=1)"

# The edit loop: no crawls, no browser, nothing slow; under a minute. A module's tests stay
# on one worker, so its module-scoped store or server is built once, not once per worker;
# three workers fill the waits of the PostgreSQL and CLI tests (53 s against 62 s with two).
test-fast: setup bytecode
	$(PYTEST) -q -n 3 --dist loadscope --no-loadscope-reorder -m "not crawl and not browser and not slow" --durations=5

# The workbench's main pages at 1280 and 800 px, from a real crawl, into screenshots/.
screenshots: setup bytecode
	ADARCHIVE_SCREENSHOTS=$(CURDIR)/screenshots $(PYTEST) -q tests/test_workbench_replay.py -k in_the_browser
	ADARCHIVE_SCREENSHOTS=$(CURDIR)/screenshots $(PYTEST) -q tests/test_workbench_browser.py tests/test_workbench_cases.py -k screenshots

bench: setup
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf demo-output screenshots .pytest_cache .ruff_cache
