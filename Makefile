# The two commands a user needs: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-arktos lint typecheck unit e2e bench clean manifests

# A fresh venv with exactly the pinned versions (constraints.txt pins the whole dependency tree).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Starts the Arktos simulator (unless ARKTOS_URL is set), the processor and Envoy on loopback.
run: install
	$(PY) -m gateway_stack

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q tests/unit tests/sim

e2e: install
	$(VENV)/bin/pytest -q tests/e2e tests/plumbing

# The whole suite: style, types, then every test (unit, simulator, plumbing, end to end), the test files
# spread over TEST_WORKERS processes (pytest-xdist; default one per core, 0 = in this process). A file stays
# on one worker, and each worker that runs end-to-end tests starts its own stack (simulator, processor,
# Envoy), so no test sees another worker's servers.
TEST_WORKERS ?= auto
test: lint typecheck
	$(VENV)/bin/pytest -q -ra -n $(TEST_WORKERS) --dist loadfile

# The end-to-end tests again, against a real Arktos control plane started from ARKTOS_DIST (default
# ../shared/arktos) with the project's node agent; needs etcd (apt-get install etcd-server).
test-arktos: install
	tests/run_test_arktos.sh

# The deployment manifests (k8s/, kustomize) as one stream on standard output: the Arktos overlay by
# default, `make manifests OVERLAY=<name>` another. Envoy's config in them is rendered first by the same
# code as `make run`'s (envoy/render.py --k8s), so it is never edited by hand.
OVERLAY ?= arktos
manifests: install
	@$(PY) envoy/render.py --k8s --out k8s/base/envoy.yaml
	@$(PY) -m gateway_stack.mirror.front_envoy --k8s --out k8s/overlays/mirror/front-envoy.yaml
	@$(VENV)/bin/kubectl kustomize k8s/overlays/$(OVERLAY)

bench: install
	$(PY) -m bench

clean:
	rm -rf .run bench/results .mypy_cache .ruff_cache .pytest_cache
