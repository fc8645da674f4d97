"""What a person sees while an experiment runs: one live tqdm bar on a terminal, a few plain lines elsewhere.

A terminal gets one bar per experiment (trials finished out of the budget, running, failed, the best
validation accuracy so far, elapsed time and ETA). Logs and CI get plain lines instead, at most one
every ``min_interval_s`` seconds or per 10 % of the trials, plus a final line, so a long search
leaves a short log. tqdm comes with NNI (it is one of NNI's own requirements).
"""
from __future__ import annotations

import math
import sys
import time


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _clock_text(seconds: float) -> str:
    from tqdm import tqdm

    return tqdm.format_interval(max(0.0, seconds))


class Progress:
    """Progress of one experiment.

    ``update(done=, running=, failed=, best=)``: ``done`` counts the trials that succeeded, ``failed`` those that
    ended otherwise (both count toward ``total``), ``running`` those in flight, ``best`` the best validation
    accuracy so far (``None`` before the first result). ``total`` is the trial budget, ``None`` if unknown.
    """

    def __init__(self, label: str, total: int | None, stream=None, *, min_interval_s: float = 10.0, clock=time.monotonic):
        self.label = label
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.started = clock()
        self.state: tuple[int, int, int, float | None] = (0, 0, 0, None)
        self._last_line_at: float | None = None
        self._last_line_state = None
        self._last_decile = 0
        self._closed = False
        self.bar = None
        if _is_tty(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="trial", file=self.stream, dynamic_ncols=True, leave=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} trials "
                                       "[{elapsed}<{remaining}{postfix}]" if total else None)

    def update(self, *, done: int, running: int, failed: int, best: float | None) -> None:
        """Show the experiment's counts now; cheap to call on every poll."""
        if self._closed:
            return
        self.state = (done, running, failed, best)
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=False)
            self.bar.update(done + failed - self.bar.n)  # redraws, with tqdm's own rate limit
            return
        now = self.clock()
        decile = math.floor(10 * (done + failed) / self.total) if self.total else 0
        if self.state == self._last_line_state:
            return  # nothing new to say
        due = self._last_line_at is None or now - self._last_line_at >= self.min_interval_s or decile > self._last_decile
        if due:
            self._write_line(now)
            self._last_decile = max(self._last_decile, decile)

    def close(self) -> None:
        """End the bar, or write the final plain line."""
        if self._closed:
            return
        self._closed = True
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=False)
            self.bar.close()
        else:
            self._write_line(self.clock(), final=True)

    # ----- formatting -----
    def _postfix(self) -> str:
        _done, running, failed, best = self.state
        return f"running {running}, failed {failed}, best val acc {'-' if best is None else f'{best:.4f}'}"

    def _write_line(self, now: float, final: bool = False) -> None:
        done, running, failed, best = self.state
        elapsed = now - self.started
        finished = done + failed
        budget = f"/{self.total}" if self.total else ""
        eta = ""
        if not final and self.total and 0 < finished < self.total:
            eta = f", ETA {_clock_text(elapsed / finished * (self.total - finished))}"
        head = "finished: " if final else ""
        print(f"[{self.label}] {head}{done}{budget} trials done, {running} running, {failed} failed, "
              f"best val acc {'-' if best is None else f'{best:.4f}'}, elapsed {_clock_text(elapsed)}{eta}",
              file=self.stream, flush=True)
        self._last_line_at, self._last_line_state = now, self.state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
