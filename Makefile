# gtm: one command to try it (make demo), one to check it (make test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the tests talk to (dig); installed when missing and we are root.
SYSTEM_TOOLS := dig:bind9-dnsutils nsupdate:bind9-dnsutils named:bind9 haproxy:haproxy

.PHONY: demo test lint bench venv system clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

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

demo: $(STAMP)
	$(BIN)/gtm demo

test: $(STAMP) system
	$(BIN)/python -m pytest -q tests/core --cov=gtm.core --cov-branch --cov-fail-under=100
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check gtm healthchecks tests benchmarks examples
	$(BIN)/ruff format --check gtm healthchecks tests benchmarks examples
	$(BIN)/mypy

bench: $(STAMP) system
	$(BIN)/python benchmarks/failover.py
	$(BIN)/python benchmarks/flap.py
	$(BIN)/python benchmarks/resolve.py
	$(BIN)/python benchmarks/publish.py
	$(BIN)/python benchmarks/planned.py

clean:
	rm -rf $(VENV) var build *.egg-info
