# Dongcheng city-operations command centre. `make run` starts everything; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Every package and version the venv gets, with hashes, for the test and demo extras (pip-tools; `make lock`).
LOCK := requirements.lock
PIP_TOOLS := pip-tools>=7.4,<8
# Touched after a successful install: reinstall only when the lock or pyproject.toml is newer.
STAMP := $(VENV)/.installed-stamp

# Browser tests (dash_duo) use Debian's Chromium and its ChromeDriver.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk
# The reverse-proxy tests (tests/test_proxy.py) run Debian's nginx with deploy/nginx/dongcheng.conf.
NGINX := /usr/sbin/nginx
# The MQTT feeds' tests (tests/test_mqtt_ingest.py) start Debian's Mosquitto broker on a port of their own.
MOSQUITTO := /usr/sbin/mosquitto
PYTEST_ARGS ?=
# The suite runs in TEST_WORKERS processes (pytest-xdist), a test file in one process (`--dist loadfile`: a file's
# servers and module fixtures are made once); 0 runs it in this process alone. Most of a test's time is spent waiting
# (a browser, a server starting, a timer), so two processes on two cores take two thirds of the time of one. At most
# 4: each takes a Redis database of its own from 8 up (tests/conftest.py).
TEST_WORKERS ?= 2

.PHONY: help venv lock run cluster test browsers nginx mosquitto lint bench bench-cluster clean distclean

help:
	@echo "make run       set up .venv and start the whole system on http://127.0.0.1:$${PORT:-8050}"
	@echo "make cluster   two hosts behind nginx on this machine (Redis with sentinels, PostgreSQL); see the README"
	@echo "make test      set up .venv (and Chromium and nginx for the browser and proxy tests) and run the test suite"
	@echo "make lint      ruff + mypy"
	@echo "make bench     measure aggregate age and refresh latency under load"
	@echo "make bench-cluster  kill a web host, the leading scheduler and the Redis master under load; one JSON line"
	@echo "make lock      re-resolve $(LOCK) after a change of pyproject.toml (UPGRADE=1: newest versions too)"
	@echo "make clean     remove caches (keeps .venv and instance/); make distclean also removes .venv"

# The message catalogues (dashboard/i18n/locale/<lang>/LC_MESSAGES/messages.po), compiled to gettext .mo files.
CATALOGUES := $(wildcard dashboard/i18n/locale/*/LC_MESSAGES/messages.po)
COMPILED_CATALOGUES := $(CATALOGUES:.po=.mo)

venv: $(STAMP) $(COMPILED_CATALOGUES)

$(PY):
	$(PYTHON) -m venv $(VENV)

# The locked packages first (hashes checked), then the project itself, editable, without resolving anything
# again; setuptools comes from the lock too, so the build needs no index.
$(STAMP): $(LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install -r $(LOCK)
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $@

# Recompiled when its .po changes (the app compiles a missing or stale one in memory meanwhile).
$(COMPILED_CATALOGUES): %.mo: %.po | $(STAMP)
	$(VENV)/bin/pybabel -q compile -i $< -o $@

# Keeps the pins that still fit pyproject.toml (UPGRADE=1 re-resolves everything to the newest versions).
lock: | $(PY)
	$(PY) -m pip install '$(PIP_TOOLS)'
	$(VENV)/bin/pip-compile --quiet $(if $(UPGRADE),--upgrade) --extra test --extra demo --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml

run: venv
	$(VENV)/bin/dongcheng run

# Two hosts' topology on one machine (ops/cluster.py): needs nginx (installed when missing) and PostgreSQL's programs.
cluster: venv nginx
	$(VENV)/bin/dongcheng cluster

# Installs Chromium, ChromeDriver and CJK fonts when they are missing and we may (root with apt-get).
browsers:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ] \
	   && { ! command -v dpkg-query >/dev/null || dpkg-query -W -f='$${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'ok installed'; }; then \
	  exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(BROWSER_PACKAGES) for the browser tests"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BROWSER_PACKAGES); \
	else \
	  echo "warning: cannot install $(BROWSER_PACKAGES) (not root or no apt-get): browser tests may be skipped"; \
	fi

# $(call apt_install,BINARY,PACKAGE,TESTS): install Debian's PACKAGE when BINARY is missing and we may (root with
# apt-get); when it cannot be installed TESTS skip, saying so.
define apt_install
@if [ -x $(1) ]; then exit 0; fi; \
if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
  echo "installing $(2) for $(3)"; \
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(2); } \
    || echo "warning: could not install $(2): $(3) are skipped"; \
else \
  echo "warning: cannot install $(2) (not root or no apt-get): $(3) are skipped"; \
fi
endef

# Installs nginx when it is missing and we may; when it cannot be installed the proxy tests skip, saying so.
# Debian's package is only used by the tests, in a folder of their own (on a machine with systemd, the package
# also enables its own service with the default site on port 80: stop it if that port is needed).
nginx:
	$(call apt_install,$(NGINX),nginx,the reverse-proxy tests)

# Installs mosquitto when it is missing and we may; when it cannot be installed the MQTT tests skip, saying so. The
# tests run it with a configuration of their own on a free port (on a machine with systemd, the package also
# enables its own service on port 1883).
mosquitto:
	$(call apt_install,$(MOSQUITTO),mosquitto,the MQTT tests)

# dash[testing] starts selenium's Chrome driver, which finds `chromedriver` on PATH; DASH_TEST_CHROMEPATH
# names the browser. Without them the browser tests are deselected instead of failing on set-up.
# pytest exits 5 when it ran no test: that is a failure here, never a silent pass.
test: venv browsers nginx mosquitto
	@rc=0; marks=(); \
	if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then marks=(-m "not browser"); fi; \
	PATH="$(dir $(CHROMEDRIVER)):$$PATH" DASH_TEST_CHROMEPATH=$(CHROMIUM) \
	  $(VENV)/bin/pytest --headless --webdriver Chrome "$${marks[@]}" \
	  $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no test: failing"; fi; \
	exit $$rc

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: venv
	$(VENV)/bin/dongcheng bench

bench-cluster: venv nginx
	$(VENV)/bin/python -m bench.cluster

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info bench/results
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(COMPILED_CATALOGUES)
