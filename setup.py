"""Build graphnet: the Python package plus its C kernels through cffi (API mode)."""
from setuptools import find_packages, setup

setup(
    name="graphnet",
    version="0.1.0",
    description="Keras-style define-then-run deep learning with a compiler and C kernels",
    packages=find_packages(include=["graphnet", "graphnet.*"]),
    python_requires=">=3.9",
    cffi_modules=["graphnet/_build_ffi.py:ffibuilder"],
    install_requires=["numpy>=1.22", "cffi>=1.15"],
    extras_require={
        "test": ["pytest>=7"],
        "compare": ["torch==2.13.0", "keras>=3.0", "onnx", "onnxruntime"],
    },
    entry_points={"console_scripts": ["graphnet-bench=graphnet.bench.__main__:main"]},
    zip_safe=False,
)
