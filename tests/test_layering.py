"""The package layering stays as designed: the graph, the ops, the losses and the
optimizers sit below the engine and the layers; the ops' grad rules build nodes with
graphnet/ops/builders.py and never import the reverse-mode driver (graphnet/autodiff.py);
the training loop knows no layer family. Checked twice: by what a fresh process has
imported after using the lower packages, and by every import statement in their source,
function-local ones included."""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# package or module (path under graphnet/) -> modules it must never import
ABOVE_OPS = ("graphnet.autodiff", "graphnet.engine", "graphnet.layers", "graphnet.losses",
             "graphnet.metrics", "graphnet.optimizers", "graphnet.models")
RULES = {
    "ops": ABOVE_OPS,
    "graph": ABOVE_OPS,
    "losses.py": ("graphnet.engine", "graphnet.layers"),
    "optimizers": ("graphnet.engine", "graphnet.layers"),
    "engine/training.py": ("graphnet.layers",),
}


def _module_name(path):
    rel = os.path.relpath(path, ROOT)[:-len(".py")].split(os.sep)
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def _imported(path):
    """(line, module) for every module an import statement in ``path`` names."""
    name = _module_name(path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                head = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{head}.{base}" if base else head
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


def _sources(where):
    path = os.path.join(ROOT, "graphnet", where)
    if path.endswith(".py"):
        return [path]
    return [os.path.join(d, f) for d, _, files in os.walk(path) for f in files
            if f.endswith(".py")]


def _within(module, prefix):
    return module == prefix or module.startswith(prefix + ".")


def test_no_source_imports_a_layer_above_it():
    wrong = []
    for where, banned in RULES.items():
        files = _sources(where)
        assert files, f"graphnet/{where} has no Python files: update RULES"
        for path in files:
            for line, module in _imported(path):
                if any(_within(module, b) for b in banned):
                    wrong.append(f"{os.path.relpath(path, ROOT)}:{line} imports {module}")
    assert wrong == []


def test_the_import_scan_resolves_relative_imports():
    """The scan above would see the imports it forbids (a check that cannot fail is no
    check): relative, function-local and package-level forms."""
    path = os.path.join(ROOT, "graphnet", "ops", "fused.py")
    modules = {m for _, m in _imported(path)}
    assert {"graphnet.graph.node", "graphnet.runtime.reference", "graphnet.ops.registry",
            "graphnet.runtime.cext.lib"} <= modules
    init = {m for _, m in _imported(os.path.join(ROOT, "graphnet", "ops", "__init__.py"))}
    assert "graphnet.ops.elementwise" in init


def test_using_the_lower_packages_loads_neither_engine_nor_layers_nor_autodiff():
    code = "\n".join([
        "import sys",
        "import numpy as np",
        "import graphnet.graph, graphnet.ops, graphnet.losses, graphnet.optimizers",
        "from graphnet import losses, optimizers",
        "from graphnet.graph import Variable",
        "loss = losses.mean_squared_error(np.ones((2, 3)), np.zeros((2, 3)))",
        "assert np.allclose(loss, 1.0), loss",
        "v = Variable(np.ones(3, np.float32))",
        "optimizers.SGD(0.5).apply([np.ones(3, np.float32)], [v])",
        "assert np.allclose(v.numpy(), 0.5), v.numpy()",
        "print(' '.join(m for m in sys.modules if m.startswith('graphnet.')))",
    ])
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    loaded = run.stdout.split()
    assert "graphnet.runtime.function" in loaded   # the eager calls did compile and run
    upper = [m for m in loaded if any(_within(m, b) for b in
                                      ("graphnet.engine", "graphnet.layers",
                                       "graphnet.autodiff"))]
    assert upper == []
