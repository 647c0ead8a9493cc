"""The optional extras the tests compare graphnet with: keras (on torch), torch, onnx and
onnxruntime; h5py, which graphnet's Keras files need, and pillow (imported as PIL.Image),
which its image utilities need. Without them every test module still imports and the rest
of it runs.

- A test module names an extra by its stand-in, ``from extras import keras``; the stand-in
  imports the real module on first attribute access (``keras.layers.Dense``).
- A test (or one parametrized case) that is a comparison through and through says
  ``@needs(keras)`` (``pytest.param(..., marks=needs(onnx))``): it is skipped, alone, where
  the extra is missing.
- A test whose graphnet-only checks stand on their own guards just its comparison:
  ``if compare_with(torch, "gradients against torch.autograd"): ...``. Where torch is
  missing the rest runs and pytest's summary lists the comparisons left out.

tests/test_without_extras.py collects the suite with the extras hidden to keep this true.
"""
import importlib
import os

import pytest

NAMES = ("keras", "torch", "onnx", "onnxruntime", "h5py", "pillow")
#: the module each extra is imported as (its stand-in's attributes are that module's)
MODULES = {name: {"pillow": "PIL.Image"}.get(name, name) for name in NAMES}
_imported = {}      # name -> module, or the ImportError that import raised
_left_out = []      # (extra name, test id, what was not compared)


def _load(name):
    if name not in _imported:
        try:
            _imported[name] = importlib.import_module(MODULES[name])
        except ImportError as error:
            _imported[name] = error
    return _imported[name]


class Extra:
    """The stand-in for one optional module; its attributes are the module's."""

    def __init__(self, name):
        if name not in NAMES:
            raise ValueError(f"extra must be one of {NAMES}, got {name!r}")
        self._extra_name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        module = _load(self._extra_name)
        if isinstance(module, ImportError):
            raise ImportError(
                f"{self._extra_name} is not installed ({module}): mark the test "
                f"@needs({self._extra_name}) or guard the check with "
                f"compare_with({self._extra_name}, ...)") from module
        return getattr(module, attr)

    def __repr__(self):
        return f"<optional module {self._extra_name}>"


keras = Extra("keras")
torch = Extra("torch")
onnx = Extra("onnx")
onnxruntime = Extra("onnxruntime")
h5py = Extra("h5py")
pillow = Extra("pillow")


def _name_of(extra):
    if not isinstance(extra, Extra):
        raise TypeError(f"expected one of the extras {NAMES} (from extras import ...), "
                        f"got {extra!r}")
    return extra._extra_name


def installed(extra):
    """True when ``extra`` imports."""
    return not isinstance(_load(_name_of(extra)), ImportError)


def needs(*extras):
    """The mark of a test (or parametrized case) that is skipped unless all ``extras``
    import."""
    if not extras:
        raise TypeError("needs() takes at least one extra, got none")
    return pytest.mark.needs(*[_name_of(extra) for extra in extras])


def mark_skipped_unless_installed(item):
    """For a tryfirst pytest_runtest_setup: mark ``item`` skipped if an extra it needs is
    missing (pytest's own skip marks then report the test's location)."""
    for mark in item.iter_markers("needs"):
        for name in mark.args:
            module = _load(name)
            if isinstance(module, ImportError):
                item.add_marker(pytest.mark.skip(reason=f"{name} not installed ({module})"))
                return


def compare_with(extra, what):
    """True when ``extra`` imports; otherwise False, and ``what`` (the comparison the
    calling test leaves out) goes into the end-of-run summary."""
    if installed(extra):
        return True
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
    _left_out.append((_name_of(extra), test, what))
    return False


def report_left_out(terminalreporter):
    """For pytest_terminal_summary: the comparisons tests left out, per extra (each one
    with -v)."""
    if not _left_out:
        return
    terminalreporter.write_sep("=", "comparisons left out: extras not installed")
    for name in sorted({entry[0] for entry in _left_out}):
        entries = [entry for entry in _left_out if entry[0] == name]
        tests = {test for _, test, _ in entries}
        terminalreporter.write_line(f"{name}: {len(entries)} comparisons in {len(tests)} "
                                    f"tests that ran their other checks")
        if terminalreporter.verbosity > 0:
            for _, test, what in entries:
                terminalreporter.write_line(f"  {test}: {what}")


def train_alike(gm, km, x, y, optimizer="SGD", optimizer_args=None, loss="mse", metrics=(),
                steps=5, atol=1e-5):
    """Compile graphnet's ``gm`` and Keras's ``km`` (same weights) alike with the optimizer
    named ``optimizer`` (``optimizer_args``: its keyword arguments, SGD's default a learning
    rate of 0.1); their evaluate, then ``steps`` train_on_batch losses (and metrics), then
    the weights must agree within ``atol``."""
    import numpy as np

    import graphnet as gn
    args = {"learning_rate": 0.1} if optimizer_args is None else dict(optimizer_args)
    km.compile(getattr(keras.optimizers, optimizer)(**args), loss, metrics=list(metrics))
    gm.compile(getattr(gn.optimizers, optimizer)(**args), loss, metrics=list(metrics))
    np.testing.assert_allclose(gm.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0),
                               atol=atol)
    for _ in range(steps):
        np.testing.assert_allclose(gm.train_on_batch(x, y), km.train_on_batch(x, y),
                                   atol=atol)
    for ours, theirs in zip(gm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=atol)
