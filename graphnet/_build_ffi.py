"""cffi API-mode builder: compiles csrc/ into graphnet._gn_c.

The C declarations are read from csrc/graphnet.h (never repeated here);
preprocessor lines are dropped because cffi's cdef does not run cpp.
"""
import glob
import os
import platform

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")


def _cdef_text():
    with open(os.path.join(CSRC, "graphnet.h")) as f:
        return "".join(line for line in f if not line.lstrip().startswith("#"))


def _sources(ext="c"):
    files = sorted(glob.glob(os.path.join(CSRC, f"*.{ext}")) +
                   glob.glob(os.path.join(CSRC, "*", f"*.{ext}")))
    return [os.path.relpath(p, ROOT) for p in files]


def _compile_args():
    args = ["-O3", "-std=c99", "-pthread", "-fno-math-errno", "-Wall", "-Wno-unused-function"]
    if os.environ.get("GRAPHNET_SANITIZE"):
        args += ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                 "-fno-omit-frame-pointer"]
    if platform.machine() in ("x86_64", "AMD64"):
        args += ["-mtune=generic"]
    return args


def _link_args():
    args = ["-pthread", "-lm"]
    if os.environ.get("GRAPHNET_SANITIZE"):
        args += ["-fsanitize=address,undefined"]
    return args


ffibuilder = FFI()
ffibuilder.cdef(_cdef_text())
ffibuilder.set_source(
    "graphnet._gn_c",
    '#include "graphnet.h"',
    sources=_sources(),
    depends=_sources("h"),  # a changed header rebuilds the extension
    include_dirs=[os.path.relpath(CSRC, ROOT)],
    extra_compile_args=_compile_args(),
    extra_link_args=_link_args(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
