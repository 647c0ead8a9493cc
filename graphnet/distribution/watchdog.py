"""The time-out on collectives: a rank that hangs (a stuck data source, a deadlocked
callback, a process stopped by a debugger) must not leave the others waiting forever.

Every rank counts the collectives it enters. A thread of its own tells every other rank
that count once a second (a few bytes, on a duplicate of the communicator so it never
meets the training's messages) and reads theirs. When one of this rank's collectives has
waited longer than the time-out, the thread names the ranks that have not reached it
(their count is lower, or they have not been heard from for the time-out) and aborts
every rank. All ranks run the same collectives in the same order, so the counts compare.
A rank that dies is mpirun's to report; one that raises aborts through the excepthook."""
import atexit
import sys
import threading
import time

import numpy as np


class Watchdog:
    """``with watchdog.collective("what"):`` around each blocking collective."""

    def __init__(self, comm, mpi, timeout):
        if mpi.Query_thread() < mpi.THREAD_MULTIPLE:
            raise RuntimeError("DataParallel: timeout= needs an MPI library at thread level "
                               f"MPI_THREAD_MULTIPLE ({mpi.THREAD_MULTIPLE}), this one runs "
                               f"at {mpi.Query_thread()}; pass timeout=None to go without")
        self.timeout = float(timeout)
        self.comm, self._mpi = comm.Dup(), mpi
        self.rank, self.num_ranks = comm.Get_rank(), comm.Get_size()
        self._entered = 0             # collectives this rank has entered
        self._waiting = {}            # collective number -> (start time, what)
        self._lock = threading.Lock()
        self._heard = {p: (0, time.monotonic()) for p in self._peers()}
        self._stop = threading.Event()
        self._sends = []
        self._thread = threading.Thread(target=self._run, name="graphnet-watchdog",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _peers(self):
        return [p for p in range(self.num_ranks) if p != self.rank]

    class _Wait:
        def __init__(self, dog, what):
            self.dog, self.what = dog, what

        def __enter__(self):
            with self.dog._lock:
                self.dog._entered += 1
                self.number = self.dog._entered
                self.dog._waiting[self.number] = (time.monotonic(), self.what)

        def __exit__(self, *exc):
            with self.dog._lock:
                del self.dog._waiting[self.number]

    def collective(self, what):
        """A context for one collective call described by ``what``."""
        return self._Wait(self, what)

    def _entered_so_far(self):
        with self._lock:
            oldest = min(self._waiting.items(), default=None)
            return self._entered, oldest

    def _run(self):
        interval = min(1.0, self.timeout / 4)
        while not self._stop.wait(interval):
            entered, oldest = self._entered_so_far()
            self._tell_peers(entered)
            self._listen()
            if oldest is not None and time.monotonic() - oldest[1][0] > self.timeout:
                self._abort(oldest[0], oldest[1][1], time.monotonic() - oldest[1][0])

    def _tell_peers(self, entered):
        # each pending send keeps its buffer alive beside it until it completes
        self._sends = [(r, buf) for r, buf in self._sends if not r.Test()]
        message = np.array([entered], dtype=np.int64)
        for p in self._peers():
            self._sends.append((self.comm.Isend(message, dest=p, tag=0), message))

    def _listen(self):
        status, incoming = self._mpi.Status(), np.zeros(1, dtype=np.int64)
        while self.comm.Iprobe(source=self._mpi.ANY_SOURCE, tag=0, status=status):
            source = status.Get_source()
            self.comm.Recv(incoming, source=source, tag=0)
            self._heard[source] = (int(incoming[0]), time.monotonic())

    def behind(self, number, now=None):
        """The peers that have not reached collective ``number``: (rank, why) pairs."""
        now = time.monotonic() if now is None else now
        late = []
        for p, (count, when) in sorted(self._heard.items()):
            if now - when > self.timeout:
                late.append((p, f"not heard from for {now - when:.0f} s"))
            elif count < number:
                late.append((p, f"has entered {count} collective(s)"))
        return late

    def _abort(self, number, what, waited):
        late = self.behind(number)
        named = "; ".join(f"rank {p} {why}" for p, why in late) or \
            "every rank has reached it (a collective stuck inside MPI)"
        sys.stderr.write(f"graphnet.distribution: rank {self.rank} waited {waited:.0f} s "
                         f"(timeout {self.timeout:g} s) in collective {number} ({what}); "
                         f"{named}; aborting all ranks\n")
        sys.stderr.flush()
        self.comm.Abort(1)

    def close(self):
        """Stop the thread (before MPI finalizes at exit)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
