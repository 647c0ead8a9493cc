"""Exporting compiled models: graphnet's ``.gnx`` files, ONNX and standalone C.

* ``export_compiled(inputs, outputs, path, shapes)`` / ``model.export(path)``: the
  optimized plan, weights and constants in a versioned zip (FORMAT.md), loaded back
  with ``gn.load_compiled(path)`` using only graphnet.runtime; for any batch size unless
  ``batch_size`` or ``shapes`` fixes one.
* ``to_onnx(model, path, opset=17)``: the optimized op graph as standard ONNX ops, with
  a dynamic batch dimension (needs the optional ``onnx`` package).
* ``to_c(model, directory)``: C source, the kernels, a Makefile and a self-test; builds
  with plain ``cc`` (C_API.md); the run functions take the batch size unless
  ``batch_size`` fixes it.

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


def _write(model_or_inputs, outputs, path, shapes, batch_size, name, output_names,
           overwrite):
    """Write a ``.gnx`` file: for any batch size when neither ``shapes`` nor ``batch_size``
    fixes one, else for those shapes."""
    from .compiled import write_compiled
    if shapes is not None and batch_size is not None:
        raise ValueError(f"export: give batch_size ({batch_size}) or shapes ({shapes}), not "
                         "both")
    if shapes is None and batch_size is None:
        from .batch_fit import fit_batch_plan
        from .source import graph_of
        in_nodes, out_nodes, _, out_names, default = graph_of(model_or_inputs, outputs)
        plan, coefficients, weights, specialized = fit_batch_plan(in_nodes, out_nodes)
        batch = (coefficients, specialized)
    else:
        plan, weights, out_names, default = compile_for_export(
            model_or_inputs, outputs, shapes=shapes, batch_size=batch_size or 1)
        batch = None
    write_compiled(path, plan, [w.value for w in weights], output_names or out_names,
                   name=name or default, overwrite=overwrite, batch=batch)
    return path


def export_compiled(inputs, outputs, path, shapes=None, name="model", output_names=None,
                    overwrite=True):
    """Compile ``outputs`` as a function of the ``inputs`` (symbolic tensors) and write the
    plan to ``path`` (a ``.gnx`` file): for the concrete input ``shapes``, or with
    ``shapes=None`` for any batch size (each input's unknown first dimension)."""
    return _write(inputs, outputs, path, shapes, None, name, output_names, overwrite)


def export_model(model, path, batch_size=None, shapes=None, overwrite=True):
    """Compile ``model`` and write the plan to ``path``; ``gn.load_compiled(path)`` runs it.

    With neither ``batch_size`` nor ``shapes`` the file takes any batch size; an explicit
    ``batch_size`` (or input ``shapes``) fixes the inputs' shapes."""
    return _write(model, None, path, shapes, batch_size, None, None, overwrite)


def to_onnx(model, path=None, opset=17, batch_size=None):
    """Export ``model`` to ONNX (see ``graphnet.export.onnx_export.to_onnx``)."""
    from .onnx_export import to_onnx as _to_onnx
    return _to_onnx(model, path, opset=opset, batch_size=batch_size)


def to_c(model, directory, batch_size=None, name=None, test_inputs=None, shapes=None,
         max_batch_size=None):
    """Export ``model`` as standalone C (see ``graphnet.export.c_export.to_c``): for any
    batch size up to ``max_batch_size`` (default 1024) unless ``batch_size`` fixes one."""
    from .c_export import to_c as _to_c
    return _to_c(model, directory, batch_size=batch_size, name=name, test_inputs=test_inputs,
                 shapes=shapes, max_batch_size=max_batch_size)


__all__ = ["export_compiled", "export_model", "load_compiled", "CompiledModel", "to_onnx",
           "to_c", "verify_plan", "PlanError"]
