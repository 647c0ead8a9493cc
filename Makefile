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

# The standalone C kernel tests under AddressSanitizer + UBSan.
sanitize:
	$(MAKE) -C tests/c sanitize

clean:
	rm -rf build *.egg-info graphnet/_gn_c.* tests/c/bin

demo-cnn: install
	$(PYTHON) examples/mnist_cnn.py
