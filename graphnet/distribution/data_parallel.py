"""DataParallel: the MPI communicator, weight broadcast, model check and the sums over
ranks (ALLREDUCE_SUM's transport)."""
import contextlib
import os
import sys
import traceback

import numpy as np

from .background import BackgroundSums
from .watchdog import Watchdog


def _mpi():
    # OpenMPI's waits poll without yielding by default: on a machine with a core per rank
    # the bucket thread, polling through the backward pass, would take the kernels'
    # core. Set before MPI starts (mpi4py's import); the launch's own setting wins.
    os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("gn.distribution needs mpi4py and an MPI library: "
                          "pip install 'graphnet[distributed]'") from None
    return MPI


class DataParallel:
    """Data parallelism over MPI ranks, one device per rank.

    Args:
        devices: None (every rank of MPI.COMM_WORLD) or a list of device names, one per
            rank, e.g. ``["cpu:0", "cpu:1"]``; its length must equal the number of ranks.
        auto_shard_dataset: True: ``fit``, ``evaluate`` and ``predict`` give each rank its
            part of the data (graphnet/distribution/sharding.py); False: each rank's data
            is its own part already (the ranks must then run as many training steps).
        timeout: seconds a collective may wait for the other ranks before every rank is
            aborted with an error naming the ranks that did not arrive (graphnet's own
            argument; None waits forever). Rank 0 writing a checkpoint while the others
            wait counts against it, so leave room for the slowest such pause.
    """

    def __init__(self, devices=None, auto_shard_dataset=True, timeout=300.0):
        MPI = _mpi()
        self.comm = MPI.COMM_WORLD
        self.rank, self.num_ranks = self.comm.Get_rank(), self.comm.Get_size()
        if devices is None:
            devices = [f"cpu:{r}" for r in range(self.num_ranks)]
        devices = list(devices)
        if len(devices) != self.num_ranks:
            raise ValueError(f"DataParallel: devices has {len(devices)} entries but MPI runs "
                             f"{self.num_ranks} rank(s); expected one device per rank")
        self.devices = devices
        if not isinstance(auto_shard_dataset, bool):
            raise TypeError(f"DataParallel: auto_shard_dataset must be True or False, got "
                            f"{auto_shard_dataset!r}")
        self.auto_shard_dataset = auto_shard_dataset
        if timeout is not None and (isinstance(timeout, bool) or
                                    not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError(f"DataParallel: timeout must be a positive number of seconds "
                             f"or None, got {timeout!r}")
        self.timeout = timeout
        self.watchdog = Watchdog(self.comm, MPI, timeout) \
            if timeout is not None and self.num_ranks > 1 else None
        self.background = None   # the thread summing gradient buckets, from the first step

    def install_abort_hook(self):
        """An uncaught exception on this rank prints its rank and aborts every rank."""
        if getattr(sys.excepthook, "_graphnet_rank_abort", False):
            return
        comm, rank = self.comm, self.rank

        def hook(kind, value, tb):
            sys.stderr.write(f"graphnet.distribution: rank {rank} raised "
                             f"{kind.__name__}: {value}; aborting all ranks\n")
            traceback.print_exception(kind, value, tb)
            sys.stderr.flush()
            comm.Abort(1)
        hook._graphnet_rank_abort = True
        sys.excepthook = hook

    def collective(self, what):
        """The context each blocking collective runs in: the watchdog's time-out."""
        return self.watchdog.collective(what) if self.watchdog else contextlib.nullcontext()

    def allgather(self, value, what):
        """Every rank's ``value`` (any picklable object), in rank order."""
        with self.collective(what):
            return self.comm.allgather(value)

    # -- start of fit --------------------------------------------------------------
    def check_same_model(self, model):
        """Every rank's weights must have rank 0's names, shapes and dtypes."""
        mine = [(w.name, tuple(w.shape), str(np.dtype(w.dtype))) for w in model.weights]
        every = self.allgather(mine, "the check that every rank holds the same model")
        for r, theirs in enumerate(every):
            if theirs != every[0]:
                diff = next((i for i, (a, b) in enumerate(zip(every[0], theirs)) if a != b),
                            min(len(theirs), len(every[0])))
                raise ValueError(
                    f"DataParallel: rank {r}'s model differs from rank 0's: {len(theirs)} vs "
                    f"{len(every[0])} weights; first difference at weight {diff}: "
                    f"{theirs[diff] if diff < len(theirs) else None} vs "
                    f"{every[0][diff] if diff < len(every[0]) else None}")

    def broadcast_weights(self, variables):
        """Rank 0's values of ``variables`` (weights, optimizer state) on every rank."""
        for v in variables:
            value = np.array(v.numpy(), order="C")  # ascontiguousarray makes 0-d 1-d
            with self.collective(f"the broadcast of {v.name} from rank 0"):
                self.comm.Bcast(value, root=0)
            v.assign(value)

    # -- collectives -------------------------------------------------------------------
    def sum_in_place(self, array, wait=True):
        """Sum the contiguous float ``array`` over ranks in place (the transport of the
        ALLREDUCE_SUM op): now, or with ``wait`` False on the background thread
        (``background.wait()`` waits for those)."""
        MPI = _mpi()
        if wait:
            with self.collective(f"a sum of {array.size} values over ranks"):
                self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
            return
        if self.background is None:
            with self.collective("the start of the gradient buckets' thread"):
                self.background = BackgroundSums(self.comm, MPI, self.collective)
        self.background.start(array)
