# The two set-up commands are `make demo` and `make test`; both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
POETRY_HOME := .tools/poetry
POETRY := $(POETRY_HOME)/bin/poetry
POETRY_VERSION := 2.5.1
OLAH := .tools/olah/bin/olah-cli
OLAH_VERSION := 0.5.4
UV := .tools/uv/bin/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

# uv reads no pip configuration: where pip is told of an index of its own, uv is handed the same one
# (otherwise both use their default).
PIP_INDEX = $(or $(PIP_INDEX_URL),$(shell $(PYTHON) -m pip config get global.index-url 2>/dev/null))
ifneq ($(PIP_INDEX),)
export UV_INDEX_URL := $(PIP_INDEX)
endif

DEMO_DATA := data/demo

.PHONY: setup test test-fast lint demo serve benchmark clean

# The environment, the private Poetry and the test server are independent: build them side by side.
# Output is not held back per target, so the demo's progress and the page's address show as they happen.
MAKEFLAGS += --jobs=2

setup: $(STAMP) $(POETRY)

# torch first, pinned exactly and through pip: this machine's pip configuration serves the CPU build, a GPU
# machine's the CUDA build (uv would take PyPI's). Then, with uv, the locked set as it is (it is complete, so
# no resolving; the torch already there satisfies its pin), the ONNX Runtime build for this machine (GPU and
# TensorRT beside an NVIDIA driver) and the project itself in editable mode; beside a driver, torch, ONNX Runtime
# and TensorRT must then share one CUDA major (tools/check_cuda_stack.py). Bytecode is compiled at install
# time: where PYTHONDONTWRITEBYTECODE is set, Python would otherwise compile every module at every start.
$(STAMP): pyproject.toml requirements.lock tools/setup_packages.py tools/check_cuda_stack.py | $(UV)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet torch==2.13.0
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -r requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python $$($(BIN)/python -m tools.setup_packages)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps --no-build-isolation -e .
	$(BIN)/python -m tools.check_cuda_stack
	touch $@

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/python -m pip install --quiet --quiet uv==$(UV_VERSION)

# Poetry lives in its own environment and uses the in-project .venv for `poetry run`.
$(POETRY): | $(UV)
	$(PYTHON) -m venv $(POETRY_HOME)
	$(UV) pip install --quiet --python $(POETRY_HOME)/bin/python poetry==$(POETRY_VERSION)

# olah, a local Hugging Face-compatible server the store tests download from, in its own environment:
# it is a test fixture, not part of the product.
$(OLAH): | $(UV)
	$(PYTHON) -m venv .tools/olah
	$(UV) pip install --quiet --python .tools/olah/bin/python olah==$(OLAH_VERSION)

# Two test processes (pytest-xdist), each kept to cores of its own (tests/conftest.py): run one at a time, the tests
# keep about one of two cores busy. A file's tests stay in one process, so its module fixtures are built once, and
# the files start in the order tests/conftest.py sets (xdist would otherwise start those with most tests first); the
# demo's day is run once for both. Then, in one process, the tests that measure how the cores are shared: they need
# the machine to themselves.
TEST_PROCESSES ?= 2

test: setup $(OLAH)
	$(BIN)/python -m pytest --numprocesses=$(TEST_PROCESSES) --dist=loadfile --no-loadscope-reorder -m "not alone"
	$(BIN)/python -m pytest -m alone

# The unit tier alone: one module at a time, in process, no servers (under 90 s here).
test-fast: setup
	$(BIN)/python -m pytest tests/unit

# Style, types and the layers between packages (the contracts are in pyproject.toml).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The demo needs only the environment, not Poetry: on two cores, building Poetry beside it would slow it.
demo: $(STAMP)
	$(BIN)/python -m contest.cli.demo --data_dir $(DEMO_DATA)

# The leaderboard page over the demo's day (after `make demo`); Ctrl-C stops it.
serve: setup
	$(POETRY) run python -m contest.site.server --data_dir $(DEMO_DATA)

benchmark: setup
	$(POETRY) run python benchmarks/runtime_comparison.py
	$(POETRY) run python benchmarks/cpu_threads.py
	$(POETRY) run python benchmarks/null_submission.py
	$(POETRY) run python benchmarks/agreement.py
	$(POETRY) run python benchmarks/contest_scaling.py
	$(POETRY) run python benchmarks/fleet.py
	$(POETRY) run python benchmarks/optimisations.py
	$(POETRY) run python benchmarks/similarity_calibration.py
	$(POETRY) run python benchmarks/tiny_world_quality.py --sheet artifacts/tiny-world.png

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .hypothesis
