"""The suite without the optional extras (tests/extras.py): with keras, torch, onnx and
onnxruntime hidden, every test module is collected, none is skipped whole, and under a
tenth of the tests are marked to need an extra; test modules reach the extras only
through tests/extras.py."""
import ast
import json
import os
import subprocess
import sys

import extras

TESTS = os.path.dirname(os.path.abspath(__file__))
MAX_NEEDING_SHARE = 0.10
_TOP_MODULES = {module.partition(".")[0] for module in extras.MODULES.values()}  # PIL, ...

# Collects the suite in a fresh interpreter in which importing an extra raises
# ModuleNotFoundError, and writes what it saw as JSON to the file named by argv[2].
COLLECT_HIDDEN = r"""
import importlib.abc
import json
import sys

import pytest

HIDDEN = sys.argv[1].split(",")


class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden)", name=name)
        return None


sys.meta_path.insert(0, Hide())


class Collected:
    def __init__(self):
        self.failed, self.skipped, self.items = [], [], []

    def pytest_collectreport(self, report):
        if report.failed:
            self.failed.append(f"{report.nodeid}: {report.longreprtext[-600:]}")
        elif report.skipped:
            self.skipped.append(report.nodeid)

    def pytest_collection_finish(self, session):
        self.items = [[item.nodeid, [name for mark in item.iter_markers("needs")
                                     for name in mark.args]] for item in session.items]


collected = Collected()
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[3]],
                   plugins=[collected])
still_importable = []
for name in HIDDEN:
    try:
        __import__(name)
        still_importable.append(name)
    except ImportError:
        pass
with open(sys.argv[2], "w") as out:
    json.dump({"exit_code": int(code), "failed": collected.failed,
               "skipped": collected.skipped, "items": collected.items,
               "still_importable": still_importable}, out)
"""


def test_suite_collects_and_mostly_runs_without_the_extras(tmp_path):
    result_file = tmp_path / "collected.json"
    subprocess.run([sys.executable, "-c", COLLECT_HIDDEN, ",".join(sorted(_TOP_MODULES)),
                    str(result_file), TESTS], cwd=os.path.dirname(TESTS), check=True,
                   capture_output=True, timeout=300)
    seen = json.loads(result_file.read_text())
    assert seen["still_importable"] == [], "the extras were not hidden"
    assert seen["failed"] == [], "modules that fail to collect without the extras:\n" + \
        "\n".join(seen["failed"])
    assert seen["skipped"] == [], f"modules skipped whole without the extras: {seen['skipped']}"
    assert seen["exit_code"] == 0
    items = seen["items"]
    assert len(items) > 1000, f"only {len(items)} tests collected"
    needing = [nodeid for nodeid, names in items if names]
    share = len(needing) / len(items)
    assert share < MAX_NEEDING_SHARE, \
        f"{len(needing)} of {len(items)} tests ({share:.1%}) need an extra; at most " \
        f"{MAX_NEEDING_SHARE:.0%} may: guard comparisons with compare_with() instead"


def _modules_named(node):
    """The modules an import statement or an ``importorskip("name")`` call names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0:
        return [node.module]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        called = node.func.attr if isinstance(node.func, ast.Attribute) else \
            getattr(node.func, "id", None)
        if called == "importorskip" and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


def _direct_uses_of_extras(path):
    """(line, source) of each import of an extra, or importorskip of one, in a file."""
    with open(path) as source:
        tree = ast.parse(source.read(), path)
    return [(node.lineno, ast.unparse(node)) for node in ast.walk(tree)
            if any(name.partition(".")[0] in _TOP_MODULES for name in _modules_named(node))]


def test_test_modules_reach_the_extras_only_through_extras_py():
    """A direct import fails collection without the extra, an importorskip skips its whole
    test unseen by the collection check above: both go through tests/extras.py."""
    uses = {}
    for name in sorted(os.listdir(TESTS)):
        if name.endswith(".py") and name != "extras.py":
            found = _direct_uses_of_extras(os.path.join(TESTS, name))
            if found:
                uses[name] = found
    assert uses == {}
