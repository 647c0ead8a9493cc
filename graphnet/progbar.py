"""``gn.utils.Progbar``: Keras 3's progress bar, character for character.

verbose=1 draws ``12/50 ━━━━━━━━━━━━━━━━━━━━ 3s 20ms/step - loss: 0.1234`` (bold
counts, a green done part and a grey rest in ANSI colours), redrawn in place with
``\\b`` and ``\\r``; verbose=2 prints one line when the bar is finalized. An unknown
``target`` (None) shows ``    12/Unknown`` and the elapsed time.
"""
import math
import os
import sys
import time

import numpy as np


def dynamic_display():
    """Keras 3's test for redrawing in place: a terminal, a notebook, any POSIX system
    (``"posix" in sys.modules``) or PyCharm."""
    return _stdout_is_terminal() or "ipykernel" in sys.modules or "posix" in sys.modules \
        or "PYCHARM_HOSTED" in os.environ


def _stdout_is_terminal():
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def resolve_verbose(verbose, what):
    """``verbose`` of fit / evaluate / predict as 0, 1 or 2: "auto" is 1 (the bar) when
    stdout is a terminal or a notebook, else 2 (one line per epoch, for log files and
    CI). Keras 3.15 itself always takes 1 for "auto". Under gn.distribution's
    DataParallel only rank 0 prints: 0 on the other ranks."""
    if verbose not in (0, 1, 2, "auto") or isinstance(verbose, float):
        raise ValueError(f"{what}: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    from .distribution.fit import rank_verbose   # late: it imports the engine
    if verbose == "auto":
        verbose = 1 if _stdout_is_terminal() or "ipykernel" in sys.modules else 2
    return rank_verbose(int(verbose))


def _per_unit(seconds, unit_name):
    """`` 12ms/step``: the time of one unit in s, ms or us."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def _eta(seconds):
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


class Progbar:
    """Displays a progress bar (Keras 3's ``keras.utils.Progbar``).

    Args:
        target: total number of steps expected, None if unknown.
        width: progress bar width on screen.
        verbose: 0 (silent), 1 (the bar), 2 (one line when finalized).
        interval: minimum time between two redraws, in seconds.
        stateful_metrics: names of the values shown as given; the others are averaged
            over the steps. Give at most one of this and ``stateless_metrics``.
        stateless_metrics: names of the values averaged over the steps; the others are
            shown as given.
        unit_name: the name of one step ("step" or "sample").
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be "
                             f"provided, got stateful_metrics={stateful_metrics!r} and "
                             f"stateless_metrics={stateless_metrics!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: verbose must be 0, 1 or 2, got {verbose!r}")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self.stateful_metrics = None if self.stateless_metrics is not None else \
            set(stateful_metrics or ())
        self._dynamic_display = dynamic_display()
        self._seen_so_far = 0
        self._values = {}  # name -> [value total, count]
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _averaged(self, name):
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def _record(self, current, values, finalize):
        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            if self._averaged(name) and not finalize:
                base = max(current - self._seen_so_far, 1)
                total, count = self._values.get(name, (0, 0))
                self._values[name] = [total + value * base, count + base]
            else:
                self._values[name] = [value, 1]
        self._seen_so_far = current

    def _mean(self, name):
        total, count = self._values[name]
        if not isinstance(total, float):
            total = np.mean(total)
        return total / max(1, count)

    def update(self, current, values=None, finalize=None):
        """Show ``current`` steps done; ``values``: [(name, value of this step)].
        ``finalize`` (default: ``current >= target``) ends the bar with a newline."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values, finalize)
        now = time.time()
        per_unit = self._step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            info = f"%{digits}d/%d - {now - self._start:.0f}s" % (current, self.target)
            info += f" -{_per_unit(per_unit, self.unit_name)}"
            for name in self._values_order:
                mean = self._mean(name)  # Keras compares without abs() on this line
                info += f" - {name}: {mean:.4f}" if mean > 1e-3 else f" - {name}: {mean:.4e}"
            _write(info + "\n")
        self._last_update = now

    def _draw(self, current, now, per_unit, finalize):
        message = "\b" * self._prev_total_width + "\r" if self._dynamic_display else "\n"
        invisible = 0  # the ANSI escapes' characters, not counted in the width
        if self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{f'%{digits}d/%d' % (current, self.target)}\x1b[0m "
            invisible += 8
            done = int(self.width * float(current) / self.target)
            if done > 0:
                bar += f"\33[32m{'━' * done}\x1b[0m"
                invisible += 9
            bar += f"\33[37m{'━' * (self.width - done)}\x1b[0m"
            invisible += 9
        else:
            bar = "%7d/Unknown" % current
        if self.target is not None and self.target > 0 and not finalize:
            info = f" \x1b[1m{_eta(per_unit * (self.target - current))}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        invisible += 8
        info += _per_unit(per_unit, self.unit_name)
        for name in self._values_order:
            mean = self._mean(name)
            info += f" - {name}: {mean:.4f}" if abs(mean) > 1e-3 else f" - {name}: {mean:.4e}"
        total_width = len(bar) + len(info) - invisible
        message += bar + info + " " * max(self._prev_total_width - total_width, 0)
        _write(message + ("\n" if finalize else ""))
        self._prev_total_width = total_width

    def add(self, n, values=None):
        """``update(steps so far + n, values)``."""
        self.update(self._seen_so_far + n, values)

    def _step_duration(self, current, now):
        """Seconds per step, leaving out the first step (compilation) once there are
        more; 0 before any step."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit


def _write(text):
    sys.stdout.write(text)
    sys.stdout.flush()


__all__ = ["Progbar", "resolve_verbose"]
