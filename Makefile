# nightfix — the commands a newcomer types.
#   make demo   the end-to-end demo on embedded defaults (installs first); EXAMPLE=NAME runs
#               another example service: checkout-service-ts (TypeScript, @sentry/node) or
#               inventory-service-go (Go, sentry-go; needs `make sdk-tools` once)
#   make test   the whole test suite (installs first, brings up Docker and the SDK test tools)
#   make bench  the benchmark scripts under benchmarks/, with their peers
#   make lint   ruff + mypy
#   make image  the nightfix container image, built offline (scripts/build-image.sh --help)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DISTS  := servers/error_tracking servers/github servers/sandbox client
SOURCES := $(foreach d,$(DISTS),$(d)/pyproject.toml) pyproject.toml

.PHONY: install test demo bench lint docker sdk-tools image clean

install: $(STAMP)

$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach d,$(DISTS),-e $(d)) -e '.[dev]'
	touch $(STAMP)

docker: install
	bash scripts/ensure-docker.sh

image: install docker
	bash scripts/build-image.sh $(if $(TAG),--tag $(TAG))

sdk-tools:
	bash scripts/ensure-sdk-tools.sh

test: install docker sdk-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install docker $(if $(filter inventory-service-go,$(EXAMPLE)),sdk-tools)
	$(BIN)/python examples/demo.py $(if $(EXAMPLE),--example $(EXAMPLE))

bench: install docker
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
