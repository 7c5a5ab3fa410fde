# Every target calls the modelenv CLI (or the dev tools) from the project venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODELENV := $(BIN)/modelenv
# The light example: no torch, builds in seconds.
DEMO_MODEL ?= minilm-onnx

.PHONY: install demo validate check lock envs clean-envs test test-network lint bench bench-peer

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## The main job on the bundled specs: validate, check the locks, build the
## light example's environment and import its packages inside it.
demo: install
	$(MODELENV) validate
	$(MODELENV) lock --check
	$(MODELENV) create $(DEMO_MODEL)
	$(MODELENV) run $(DEMO_MODEL) -- python -c "import onnxruntime, tokenizers, numpy; print('minilm-onnx ok: onnxruntime', onnxruntime.__version__, 'tokenizers', tokenizers.__version__)"

validate: install
	$(MODELENV) validate

check: install
	$(MODELENV) lock --check

lock: install
	$(MODELENV) lock

## The bundled models this host can run without GPU wheels of several GB.
ENVS ?= $(DEMO_MODEL)
envs: install
	for m in $(ENVS); do $(MODELENV) create $$m || exit 1; done

## Remove broken, legacy and orphaned environments (see modelenv gc --help).
clean-envs: install
	$(MODELENV) gc

## Tests run in parallel (pytest-xdist), three workers per CPU: most of them
## wait on uv and on the processes they start, and on a busy machine each
## worker is one more process in the CPU's share (on 2 CPUs beside nine busy
## processes, 6 workers took 3 min 48 s where 4 took 4 min 37 s; unloaded the
## two take the same time and CPU). loadgroup hands out the tests
## one by one in their order, long tests (markers slow, ray) first, and runs
## the Ray and pre-commit modules each on one worker (tests/conftest.py's
## TOGETHER: the cluster is started and modelenv installed once).
## TEST_WORKERS=0 runs them serially.
TEST_WORKERS ?= $(shell echo $$(( 3 * $$(nproc 2>/dev/null || echo 1) )))
test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test-network: install
	$(BIN)/python -m pytest -q -m network

lint: install
	$(BIN)/ruff check compiler tests bench
	$(BIN)/ruff format --check compiler tests bench
	$(BIN)/mypy

BENCH_ARGS ?= --network
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/corpus.py $(BENCH_ARGS)
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/ray_bench.py

## The same package set through Xinference's own launch steps (xoscar's uv
## virtual-env manager in a throwaway worker venv). Needs the network.
bench-peer: install
	$(BIN)/python bench/peer.py
