"""setup.py's build_ext compiles only what changed: an object whose source, included
header (the compiler's -MMD list) or compile command is newer; nothing when nothing did."""
import importlib.util
import os
import shutil
import sysconfig
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0])
                                is None, reason="no C compiler")


@pytest.fixture(scope="module")
def setup_module():
    spec = importlib.util.spec_from_file_location("graphnet_setup", os.path.join(ROOT, "setup.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: defines the command, runs no setup()
    return module


def _compiled(setup_module, flags=()):
    """Builds a two-file extension in the current directory; returns the objects it
    (re)compiled."""
    from setuptools import Distribution, Extension
    ext = Extension("tiny_ext", ["a.c", "b.c"], depends=["shared.h"],
                    extra_compile_args=list(flags))
    dist = Distribution({"name": "tiny", "ext_modules": [ext],
                         "cmdclass": {"build_ext": setup_module.incremental_build_ext}})
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = True
    cmd.ensure_finalized()
    before = _object_mtimes()
    cmd.run()
    after = _object_mtimes()
    return sorted(name for name in after if before.get(name) != after[name])


def _object_mtimes():
    return {f: os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk("build") for f in files if f.endswith(".o")}


def _touch_after_settling(root, path):
    """Every file under root an old mtime, then ``path`` now: newer than all the rest."""
    old = time.time() - 100
    for d, _, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(d, f), (old, old))
    os.utime(path)


def test_only_what_changed_compiles(setup_module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shared.h").write_text("#define SHARED 1\n")
    (tmp_path / "a.c").write_text('#include "shared.h"\nint a(void) { return SHARED; }\n')
    (tmp_path / "b.c").write_text("int b(void) { return 2; }\n")
    assert _compiled(setup_module) == ["a.o", "b.o"]
    assert _compiled(setup_module) == []                        # nothing changed
    _touch_after_settling(tmp_path, "b.c")
    assert _compiled(setup_module) == ["b.o"]
    _touch_after_settling(tmp_path, "shared.h")                 # only a.c includes it
    assert _compiled(setup_module) == ["a.o"]
    assert _compiled(setup_module, ["-DCHANGED=1"]) == ["a.o", "b.o"]   # a new command
    assert _compiled(setup_module, ["-DCHANGED=1"]) == []


def test_dependency_list_reads_the_compilers_format(setup_module, tmp_path):
    dep = tmp_path / "x.d"
    dep.write_text("build/x.o: src/x.c src/my\\ header.h \\\n  src/other.h\n")
    assert setup_module.dependency_list(str(dep)) == ["src/x.c", "src/my header.h",
                                                      "src/other.h"]
    assert setup_module.dependency_list(str(tmp_path / "missing.d")) is None
