# Entry points: `make drill` runs the app-failure drill, `make test` runs every
# check and test: lint, ansible-test sanity, pytest (unit, local and container
# integration, the installed tarball) and molecule. Both install what they need
# first: Debian packages, a virtual environment in .venv, pm2 in .tools, and
# the drill image.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
TOOLS := $(CURDIR)/.tools
PM2_VERSION := 7
# Molecule scenarios, one drill per procedure.
SCENARIOS := app-failure perf-degradation validation-failures db-corruption
# pytest runs whole test files side by side (PYTEST_JOBS at once). Each drill
# test file has its own container, and a drill spends much of its time waiting
# on systemd, pm2 and health checks, so two jobs finish sooner on 2 cores.
PYTEST_JOBS ?= 2

export CONTAINERS_CONF := $(CURDIR)/molecule/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(BIN):$(TOOLS)/node_modules/.bin:$(PATH)

# Drills and tests need an admin token; a random one is made when none is set.
ifeq ($(strip $(ADMIN_TOKEN)),)
ADMIN_TOKEN := $(shell python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
endif
export ADMIN_TOKEN

# Debian packages as package:command. A package is installed only when its
# command is missing, because a command may come from another package: the
# NodeSource nodejs package carries npm and conflicts with Debian's npm, and
# postgresql-client-15 carries psql without the postgresql-client package.
DEBIAN_PACKAGES := podman:podman runc:runc debootstrap:debootstrap uidmap:newuidmap \
	slirp4netns:slirp4netns fuse-overlayfs:fuse-overlayfs postgresql:pg_ctlcluster \
	postgresql-client:psql nodejs:node npm:npm curl:curl shellcheck:shellcheck

.PHONY: help deps system-deps venv tools image drill test unit typecheck integration molecule lint \
	sanity changelog ee clean bench

help:
	@echo "make drill   run the app-failure drill against a fresh drill container"
	@echo "make test    run lint, sanity, mypy, unit, integration and molecule tests"
	@echo "make lint    run ansible-lint (production profile) and flake8"
	@echo "make bench   time rollbacks against the runbook in drill containers (hours; not part of test)"
	@echo "make sanity  run ansible-test sanity on the built collection (about 1 to 3 minutes)"
	@echo "make changelog  lint the changelog fragments and regenerate CHANGELOG.rst"
	@echo "make ee      write the ansible-builder context for the execution environment"
	@echo "make deps    install Debian packages, .venv, pm2 and the drill image"

deps: system-deps venv tools image

system-deps: .stamps/system-deps
.stamps/system-deps: Makefile
	@missing=""; for entry in $(DEBIAN_PACKAGES); do \
	  command -v $${entry#*:} >/dev/null 2>&1 || missing="$$missing $${entry%%:*}"; \
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

typecheck: venv
	$(BIN)/mypy --config-file python/pyproject.toml

integration: deps
	$(BIN)/pytest -n $(PYTEST_JOBS) --dist loadfile tests/integration

# The scenarios run side by side, each in its own container. On a shared 2-core
# machine all four took 7.8 minutes that way, against about 20 one after the other.
RUN_SCENARIOS := MOLECULE=$(BIN)/molecule bash tools/molecule-all.sh $(SCENARIOS)
molecule: deps
	$(RUN_SCENARIOS)

test: deps lint sanity
	$(BIN)/mypy --config-file python/pyproject.toml
	$(BIN)/pytest --durations=20 -n $(PYTEST_JOBS) --dist loadfile tests
	$(RUN_SCENARIOS)

# The benchmarks of BENCHMARKS.md, in drill containers; not part of `make test`.
# BENCH_ARGS passes options to bench/run.py, for example
# BENCH_ARGS="--only rollback,downtime --runs 5 --prefix pl-review-bench-".
bench: deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: venv
	$(BIN)/ansible-lint
	$(BIN)/flake8 plugins python tests tools bench
	$(BIN)/antsibull-changelog lint

# ansible-test creates its own virtual environments for the sanity tests and
# fills them from the package index; see tools/sanity.sh.
sanity: venv system-deps
	bash tools/sanity.sh

# Refreshes the entries of the current release from the fragments (kept in
# changelogs/fragments) and the plugin list, so a module added before the
# release is tagged shows up in it.
changelog: venv
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog release --reload-plugins --refresh --update-existing

# The context can be built with `ansible-builder build` or podman where the
# base image's registry is reachable.
ee: venv
	rm -rf .cache/ee && mkdir -p .cache/ee
	$(BIN)/ansible-galaxy collection build --output-path .cache/ee .
	mv .cache/ee/promptlib-rollback-*.tar.gz .cache/ee/promptlib-rollback.tar.gz
	$(BIN)/ansible-builder create --file execution-environment.yml --context .cache/ee/context

clean:
	rm -rf $(VENV) $(TOOLS) .stamps artifacts .cache .ansible
