"""The C kernels' allreduce transport: a Python function handed to csrc/collective.c."""
import os
import sys
import traceback

import numpy as np

from .cext import ffi, lib

_registered = [None]   # the cffi callback: kept alive while C may call it


def register_allreduce(fn):
    """Have GN_K_ALLREDUCE_SUM sum through ``fn(array, wait)`` (float32, in place; see
    graphnet/ops/collective.py for ``wait``); None: the
    kernel leaves its buffer as this process's. A transport that raises cannot hand its
    error back through the plan's C call: it is printed and the process exits (status 1),
    which stops the other processes' launcher (mpirun) too."""
    if fn is None:
        lib.gn_set_allreduce(ffi.NULL)
        _registered[0] = None
        return

    def call(data, n, wait):
        try:
            fn(np.frombuffer(ffi.buffer(data, 4 * n), dtype=np.float32), bool(wait))
        except BaseException:   # noqa: B902 - nothing may unwind into C
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
    callback = ffi.callback("gn_allreduce_fn", call)
    lib.gn_set_allreduce(callback)
    _registered[0] = callback
