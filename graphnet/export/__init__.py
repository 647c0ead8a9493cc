"""Exporting compiled models: graphnet's ``.gnx`` files, ONNX and standalone C.

* ``export_compiled(inputs, outputs, path, shapes)`` / ``model.export(path)``: the
  optimized plan, weights and constants in a versioned zip (FORMAT.md), loaded back
  with ``gn.load_compiled(path)`` using only graphnet.runtime.
* ``to_onnx(model, path, opset=17)``: the optimized op graph as standard ONNX ops, with
  a dynamic batch dimension (needs the optional ``onnx`` package).
* ``to_c(model, directory, batch_size=1)``: C source, the kernels, a Makefile and a
  self-test; builds with plain ``cc`` (C_API.md).

Importing this package imports neither the model-building code nor the compiler.
"""
from .compiled import CompiledModel, load_compiled  # noqa: F401
from .verify import PlanError, verify_plan  # noqa: F401


def compile_for_export(model_or_inputs, outputs=None, shapes=None, batch_size=1):
    """Compile a model (or inputs/outputs) for concrete shapes: (plan, weights, names)."""
    from ..compiler import compile_plan
    from .source import concrete_shapes, graph_of
    in_nodes, out_nodes, _, out_names, name = graph_of(model_or_inputs, outputs)
    shapes = concrete_shapes(in_nodes, batch_size, shapes)
    plan, weights, _ = compile_plan(in_nodes, out_nodes, shapes)
    return plan, weights, out_names, name


def export_compiled(inputs, outputs, path, shapes, name="model", output_names=None,
                    overwrite=True):
    """Compile ``outputs`` as a function of the ``inputs`` (symbolic tensors) for the
    concrete input ``shapes`` and write the plan to ``path`` (a ``.gnx`` file)."""
    from .compiled import write_compiled
    plan, weights, out_names, _ = compile_for_export(inputs, outputs, shapes=shapes)
    write_compiled(path, plan, [w.value for w in weights], output_names or out_names,
                   name=name, overwrite=overwrite)
    return path


def export_model(model, path, batch_size=1, shapes=None, overwrite=True):
    """Compile ``model`` for ``batch_size`` (or explicit input ``shapes``) and write the
    plan to ``path``; ``gn.load_compiled(path)`` runs it."""
    from .compiled import write_compiled
    plan, weights, out_names, name = compile_for_export(model, shapes=shapes,
                                                        batch_size=batch_size)
    write_compiled(path, plan, [w.value for w in weights], out_names, name=name,
                   overwrite=overwrite)
    return path


def to_onnx(model, path=None, opset=17, batch_size=None):
    """Export ``model`` to ONNX (see ``graphnet.export.onnx_export.to_onnx``)."""
    from .onnx_export import to_onnx as _to_onnx
    return _to_onnx(model, path, opset=opset, batch_size=batch_size)


def to_c(model, directory, batch_size=1, name=None, test_inputs=None):
    """Export ``model`` as standalone C (see ``graphnet.export.c_export.to_c``)."""
    from .c_export import to_c as _to_c
    return _to_c(model, directory, batch_size=batch_size, name=name, test_inputs=test_inputs)


__all__ = ["export_compiled", "export_model", "load_compiled", "CompiledModel", "to_onnx",
           "to_c", "verify_plan", "PlanError"]
