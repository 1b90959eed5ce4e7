# Entry points: `make drill` runs the app-failure drill, `make test` runs every
# test. Both install what they need first: Debian packages, a virtual
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

# Each command the drills and tests need, and the Debian package that brings it.
# Commands that are already on PATH (such as a newer Node.js) are left alone.
REQUIRED_COMMANDS := podman:podman runc:runc debootstrap:debootstrap newuidmap:uidmap \
	slirp4netns:slirp4netns fuse-overlayfs:fuse-overlayfs psql:postgresql-client \
	postgres:postgresql node:nodejs npm:npm curl:curl

.PHONY: help deps system-deps venv tools image drill test unit integration molecule lint clean

help:
	@echo "make drill   run the app-failure drill against a fresh drill container"
	@echo "make test    run unit, integration and molecule tests"
	@echo "make deps    install Debian packages, .venv, pm2 and the drill image"

deps: system-deps venv tools image

system-deps: .stamps/system-deps
.stamps/system-deps:
	@missing=""; for pair in $(REQUIRED_COMMANDS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
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

lint: venv
	$(BIN)/ansible-lint
	$(BIN)/flake8 --max-line-length 120 plugins python tests

clean:
	rm -rf $(VENV) $(TOOLS) .stamps artifacts
