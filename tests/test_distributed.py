"""gn.distribution.DataParallel over MPI: 2 ranks on loopback (mpirun -n 2) against one
process. Skipped, with the reason, where mpi4py or mpirun is missing."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPIRUN = shutil.which("mpirun")
try:
    import mpi4py  # noqa: F401
    MISSING = None if MPIRUN else "mpirun is not on PATH (pip install 'graphnet[distributed]')"
except ImportError:
    MISSING = "mpi4py is not installed (pip install 'graphnet[distributed]')"

pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

TIMEOUT = 240   # seconds; a hang fails the test instead of the suite


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               GRAPHNET_NUM_THREADS="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # OpenMPI refuses root without these
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def _run(args, ranks=None):
    command = [sys.executable] + args
    if ranks:
        command = [MPIRUN, "-n", str(ranks), "--oversubscribe"] + command
    return subprocess.run(command, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=ROOT)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_two_ranks_at_64_equal_one_process_at_128(optimizer, tmp_path):
    script = os.path.join(HERE, "distributed", "equivalence.py")
    one, two = str(tmp_path / "one.npz"), str(tmp_path / "two.npz")
    single = _run([script, optimizer, one, "one"])
    assert single.returncode == 0, single.stderr
    double = _run([script, optimizer, two, "mpi"], ranks=2)
    assert double.returncode == 0, double.stderr
    a, b = np.load(one), np.load(two)
    assert a.files == b.files
    for name in a.files:
        np.testing.assert_allclose(b[name], a[name], atol=1e-5, rtol=0, err_msg=name)


def test_mismatched_models_are_refused_naming_the_rank():
    result = _run([os.path.join(HERE, "distributed", "faults.py"), "mismatch"], ranks=2)
    assert result.returncode != 0
    assert "rank 1's model differs from rank 0's" in result.stderr


def test_a_rank_that_raises_stops_every_rank():
    result = _run([os.path.join(HERE, "distributed", "faults.py"), "raise"], ranks=2)
    assert result.returncode != 0
    assert "rank 1 raised RuntimeError: deliberate failure" in result.stderr


def test_devices_must_be_one_per_rank():
    from graphnet.distribution import DataParallel
    with pytest.raises(ValueError, match="devices has 3 entries but MPI runs 1 rank"):
        DataParallel(devices=["cpu:0", "cpu:1", "cpu:2"])


def test_scope_sets_and_restores_the_distribution():
    from graphnet.distribution import DataParallel, distribution
    strategy = DataParallel()
    assert distribution() is None
    with strategy.scope():
        assert distribution() is strategy
    assert distribution() is None
