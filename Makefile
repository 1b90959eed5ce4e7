# Entry points: `make drill` runs the app-failure drill, `make test` runs every
# test, `make bench` runs the benchmarks recorded in BENCHMARKS.md. Both install what they need first: Debian packages, a virtual
# environment in .venv, pm2 in .tools, and the drill image.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
TOOLS := $(CURDIR)/.tools
PM2_VERSION := 7

export CONTAINERS_CONF := $(CURDIR)/molecule/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(BIN):$(TOOLS)/node_modules/.bin:$(PATH)

# Drills and tests need an admin token; a random one is made when none is set.
ifeq ($(strip $(ADMIN_TOKEN)),)
ADMIN_TOKEN := $(shell python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
endif
export ADMIN_TOKEN

DEBIAN_PACKAGES := podman runc debootstrap uidmap slirp4netns fuse-overlayfs \
	postgresql postgresql-client nodejs npm curl

.PHONY: help deps system-deps venv tools image drill test unit integration molecule bench lint clean

help:
	@echo "make drill   run the app-failure drill against a fresh drill container"
	@echo "make test    run unit, integration and molecule tests"
	@echo "make bench   time rollbacks against the runbook in drill containers (about 2 hours)"
	@echo "make deps    install Debian packages, .venv, pm2 and the drill image"

deps: system-deps venv tools image

system-deps: .stamps/system-deps
.stamps/system-deps:
	@missing=""; for pkg in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@mkdir -p .stamps && touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt python/pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q -e python/
	touch $@

tools: $(TOOLS)/.installed
$(TOOLS)/.installed: | system-deps
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-audit --no-fund pm2@$(PM2_VERSION)
	touch $@

image: system-deps
	bash molecule/build-image.sh

drill: deps
	$(BIN)/promptlib-rollback drill app-failure

unit: venv
	$(BIN)/pytest tests/unit

integration: deps
	$(BIN)/pytest tests/integration

molecule: deps
	$(BIN)/molecule test -s app-failure

test: deps
	$(BIN)/pytest tests
	$(BIN)/molecule test -s app-failure

# BENCH_ARGS passes options to bench/run.py, for example BENCH_ARGS="--only rollback --runs 3".
bench: deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: venv
	$(BIN)/ansible-lint
	$(BIN)/flake8 --max-line-length 120 plugins python tests

clean:
	rm -rf $(VENV) $(TOOLS) .stamps artifacts
