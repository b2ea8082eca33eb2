# gtm: one command to try it (make demo), one to check it (make test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEV    := $(VENV)/.installed-dev
RUNTIME := $(VENV)/.installed-runtime
# A second venv, with gtm installed as a user would (no extras, not editable).
PLAIN  := var/plain-venv
# Debian packages the tests talk to (dig); installed when missing and we are root.
SYSTEM_TOOLS := dig:bind9-dnsutils nsupdate:bind9-dnsutils named:bind9 haproxy:haproxy
# Consul for the Consul store's tests: bookworm has no package, so bullseye's 1.8.7 .deb is
# fetched with a sources list of its own (the mirror read from this machine's apt sources),
# only extracted, and its binary kept in the project (testbed/consul.py looks there).
CONSUL := var/bin/consul
CONSUL_DEB := consul=1.8.7+dfsg1-2+b3
APT_ALT := var/apt-bullseye
# Debian's Chromium for the dashboard's browser tests (Playwright drives it as installed).
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint bench venv smoke system consul browser clean

# The demo needs only what gtm needs to run; tests, lint and benchmarks add the dev extra.
$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUNTIME)

$(DEV): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV) $(RUNTIME)

venv: $(DEV)

system:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || test -x /usr/sbin/$$cmd || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing (install them, or the tests that need them are skipped)"; \
	  fi; \
	fi

consul:
	@if [ -x $(CONSUL) ] || command -v consul >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "consul not installed (needs root and apt): the Consul store tests are skipped"; exit 0; fi; \
	mirror="$$(awk '/^URIs:/{print $$2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)"; \
	[ -n "$$mirror" ] || mirror="$$(awk '/^deb /{print $$2; exit}' /etc/apt/sources.list 2>/dev/null)"; \
	if [ -z "$$mirror" ]; then \
	  echo "consul not installed (no Debian mirror in the apt sources): the Consul store tests are skipped"; exit 0; fi; \
	echo "installing consul 1.8.7 into $(CONSUL)"; \
	mkdir -p $(APT_ALT)/lists/partial $(APT_ALT)/archives/partial $(dir $(CONSUL)); \
	echo "deb $$mirror bullseye main" > $(APT_ALT)/bullseye.list; \
	opts="-o Dir::Etc::SourceList=$(abspath $(APT_ALT))/bullseye.list -o Dir::Etc::SourceParts=/dev/null \
	  -o Dir::State::Lists=$(abspath $(APT_ALT))/lists -o Dir::Cache::Archives=$(abspath $(APT_ALT))/archives"; \
	if apt-get $$opts update -qq >/dev/null 2>&1 \
	   && (cd $(APT_ALT) && apt-get $$opts download -qq $(CONSUL_DEB) >/dev/null 2>&1) \
	   && rm -rf $(APT_ALT)/x && dpkg-deb -x $(APT_ALT)/consul_1.8.7*.deb $(APT_ALT)/x \
	   && install -m 0755 $(APT_ALT)/x/usr/bin/consul $(CONSUL); then \
	  $(CONSUL) version | head -n1; \
	else echo "consul not installed (the download failed): the Consul store tests are skipped"; fi

browser:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "chromium not installed (needs root and apt): the dashboard's browser tests are skipped"; \
	fi

demo: $(RUNTIME)
	$(BIN)/gtm demo

# The core alone first, with its 100 % branch-coverage gate; then everything else.
test: $(DEV) system consul browser
	$(BIN)/python -m pytest -q tests/core --cov=gtm.core --cov-branch --cov-fail-under=100
	$(BIN)/python -m pytest -q --ignore=tests/core

# What a user gets from `pip install .`: config check, start, one DNS answer, SIGTERM.
smoke:
	rm -rf $(PLAIN)
	$(PYTHON) -m venv $(PLAIN)
	$(PLAIN)/bin/python -m pip install --quiet .
	$(PLAIN)/bin/gtm config check config/demo.yaml
	$(PLAIN)/bin/python .ci/smoke.py

lint: $(DEV)
	$(BIN)/ruff check gtm healthchecks testbed tests benchmarks examples .ci/smoke.py
	$(BIN)/ruff format --check gtm healthchecks testbed tests benchmarks examples .ci/smoke.py
	$(BIN)/mypy

bench: $(DEV) system consul
	$(BIN)/python benchmarks/failover.py
	$(BIN)/python benchmarks/failover.py --interval 0.25
	$(BIN)/python benchmarks/flap.py
	$(BIN)/python benchmarks/flap.py --interval 0.25
	$(BIN)/python benchmarks/resolve.py
	$(BIN)/python benchmarks/publish.py
	$(BIN)/python benchmarks/transfer.py
	$(BIN)/python benchmarks/planned.py
	$(BIN)/python benchmarks/isolation.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/probecost.py
	$(BIN)/python benchmarks/burst.py
	$(BIN)/python benchmarks/cluster.py

clean:
	rm -rf $(VENV) var config/var build *.egg-info
