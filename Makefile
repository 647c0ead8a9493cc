# graphnet: the README's commands. Each target installs what it needs.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
PIP_FLAGS = --disable-pip-version-check --no-input

.PHONY: install install-test install-compare build test demo demo-cnn bench sanitize clean

install:
	$(PIP) install $(PIP_FLAGS) --no-build-isolation "setuptools>=61" wheel "cffi>=1.15" numpy
	$(PIP) install $(PIP_FLAGS) --no-build-isolation -e .
	$(PYTHON) setup.py -q build_ext --inplace

install-test: install
	$(PIP) install $(PIP_FLAGS) "pytest>=7"

# torch comes from the CPU wheel on disk here (torch==2.13.0); keras runs on it.
install-compare: install
	$(PIP) install $(PIP_FLAGS) torch==2.13.0 "keras>=3.0" onnx onnxruntime

build:
	$(PYTHON) setup.py -q build_ext --inplace

test: install-test install-compare
	$(PYTHON) -m pytest -q tests

demo: install
	$(PYTHON) examples/mnist_mlp.py

bench: install install-compare
	$(PYTHON) bench/bench_gemm.py
	$(PYTHON) bench/bench_conv.py
	$(PYTHON) bench/bench_mnist_mlp.py
	$(PYTHON) bench/bench_mnist_cnn.py

# Every kernel under AddressSanitizer + UBSan: the standalone C tests, then the Python
# kernel, op and layer tests against a sanitized build of the extension made in a copy
# of the tree (build/sanitize), with the sanitizer runtimes preloaded into Python.
SAN_DIR = build/sanitize
SAN_TESTS = tests/test_kernels_gemm.py tests/test_kernels_eltwise.py tests/test_conv_fusion.py \
	tests/test_conv_backward_kernels.py tests/test_layers_conv.py tests/test_ops_nn.py \
	tests/test_ops.py tests/test_fuse_multi.py tests/test_train_step_plan.py \
	tests/test_threadpool.py tests/test_tile.py tests/test_compiled_programs.py \
	tests/test_pool_held.py tests/test_concurrency.py
sanitize: install-test install-compare
	$(MAKE) -C tests/c sanitize
	rm -rf $(SAN_DIR) && mkdir -p $(SAN_DIR)
	cp -r graphnet csrc tests setup.py pyproject.toml $(SAN_DIR)/
	rm -f $(SAN_DIR)/graphnet/_gn_c*.so
	cd $(SAN_DIR) && GRAPHNET_SANITIZE=1 $(PYTHON) setup.py -q build_ext --inplace
	cd $(SAN_DIR) && LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
		ASAN_OPTIONS=detect_leaks=0 $(PYTHON) -m pytest -q -p no:cacheprovider $(SAN_TESTS)

clean:
	rm -rf build *.egg-info graphnet/_gn_c.* tests/c/bin

demo-cnn: install
	$(PYTHON) examples/mnist_cnn.py
