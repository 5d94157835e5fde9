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

# torch through pip, pinned exactly: this machine's pip configuration serves the CPU build, a GPU machine's the CUDA
# build (uv would take PyPI's). Beside it, with uv, the rest of the locked set as it is (complete, so nothing is
# resolved): the two write disjoint packages, so they run side by side, and pip then adds whatever of torch's own
# requirements the lock lacks (CUDA's libraries beside a driver). Then the ONNX Runtime build for this machine (GPU
# and TensorRT beside an NVIDIA driver) and the project itself in editable mode; beside a driver, torch, ONNX
# Runtime and TensorRT must then share one CUDA major (tools/check_cuda_stack.py). Bytecode is compiled at install
# time: where PYTHONDONTWRITEBYTECODE is set, Python would otherwise compile every module at every start.
$(STAMP): pyproject.toml requirements.lock tools/setup_packages.py tools/check_cuda_stack.py | $(UV)
	test -x $(BIN)/python || $(UV) venv --quiet --seed --python $(PYTHON) $(VENV)
	echo torch > $(VENV)/installed-by-pip.txt
	$(BIN)/python -m pip install --quiet --quiet --no-deps torch==2.13.0 & torch=$$!; \
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps \
		--excludes $(VENV)/installed-by-pip.txt -r requirements.lock; locked=$$?; \
	wait $$torch && test $$locked -eq 0
	$(BIN)/python -m pip install --quiet --quiet torch==2.13.0
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python $$($(BIN)/python -m tools.setup_packages)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps --no-build-isolation -e .
	$(BIN)/python -m tools.check_cuda_stack
	touch $@

# uv is one binary: pip puts it in .tools/uv/bin, with no environment around it.
$(UV):
	$(PYTHON) -m pip install --quiet --quiet --target .tools/uv uv==$(UV_VERSION)

# Poetry lives in its own environment and uses the in-project .venv for `poetry run`.
$(POETRY): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) $(POETRY_HOME)
	$(UV) pip install --quiet --python $(POETRY_HOME)/bin/python poetry==$(POETRY_VERSION)

# olah, a local Hugging Face-compatible server the store tests download from, in its own environment:
# it is a test fixture, not part of the product.
$(OLAH): | $(UV)
	$(UV) venv --quiet --python $(PYTHON) .tools/olah
	$(UV) pip install --quiet --python .tools/olah/bin/python olah==$(OLAH_VERSION)

# Two test processes (pytest-xdist), each kept to cores of its own (tests/conftest.py): run one at a time, the tests
# keep about one of two cores busy. A file's tests stay in one process, so its module fixtures are built once, and
# the files start in the order tests/conftest.py sets (xdist would otherwise start those with most tests first); the
# demo's day is run once for both. Then, in one process, the tests that measure how the cores are shared: they need
# the machine to themselves. Only the files that mark such tests are collected for them: collecting every file
# imports every library the tests use, for seconds that nothing else runs beside.
TEST_PROCESSES ?= 2
ALONE_FILES = $(shell grep -rlE --include='*.py' 'mark\.alone' tests)

test: setup $(OLAH)
	$(BIN)/python -m pytest --numprocesses=$(TEST_PROCESSES) --dist=loadfile --no-loadscope-reorder -m "not alone"
	$(BIN)/python -m pytest -m alone $(ALONE_FILES)

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
