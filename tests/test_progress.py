"""Progress display: throttled plain lines off a terminal, one tqdm bar on a terminal."""
import io

from nni_plumbing.progress import Progress


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def lines(stream):
    return [line for line in stream.getvalue().splitlines() if line]


def test_plain_lines_are_throttled_to_one_per_interval_or_per_tenth():
    clock, out = FakeClock(), io.StringIO()
    p = Progress("nas", 100, stream=out, clock=clock)
    p.update(done=0, running=2, failed=0, best=None)  # the first state is always shown
    assert len(lines(out)) == 1
    for step in range(1, 9):  # 8 finished trials within 8 s: below 10 % and below 10 s, so silent
        clock.t += 1
        p.update(done=step, running=2, failed=0, best=0.5 + step / 100)
    assert len(lines(out)) == 1
    clock.t += 1
    p.update(done=9, running=2, failed=1, best=0.6)  # 10 finished: a tenth of the budget
    assert len(lines(out)) == 2
    assert "[nas] 9/100 trials done, 2 running, 1 failed, best val acc 0.6000" in lines(out)[-1]
    assert "ETA" in lines(out)[-1]
    clock.t += 5
    p.update(done=11, running=2, failed=1, best=0.6)  # 5 s later, same tenth: silent
    assert len(lines(out)) == 2
    clock.t += 5
    p.update(done=11, running=1, failed=1, best=0.6)  # 10 s since the last line: shown
    assert len(lines(out)) == 3
    clock.t += 60
    p.update(done=11, running=1, failed=1, best=0.6)  # nothing changed: nothing to say
    assert len(lines(out)) == 3
    p.close()
    assert lines(out)[-1].startswith("[nas] finished: 11/100 trials done")
    assert "elapsed 01:19" in lines(out)[-1]
    p.close()
    p.update(done=50, running=0, failed=0, best=0.7)  # closed: silent
    assert len(lines(out)) == 4


def test_plain_lines_without_a_budget_fall_back_to_the_interval():
    clock, out = FakeClock(), io.StringIO()
    with Progress("study", None, stream=out, clock=clock) as p:
        for step in range(30):
            clock.t += 1
            p.update(done=step, running=1, failed=0, best=None)
    # first line, then one at 10 s and 20 s and the final one, out of 30 updates
    assert len(lines(out)) == 4
    assert "ETA" not in out.getvalue()


def test_a_terminal_gets_one_tqdm_bar_with_counts_and_best_accuracy():
    out = FakeTty()
    p = Progress("mlp-nas", 8, stream=out)
    assert p.bar is not None
    p.update(done=3, running=2, failed=1, best=0.875)
    p.close()
    text = out.getvalue()
    assert "\r" in text  # redrawn in place, not one line per update
    final = text.split("\r")[-1]
    assert "mlp-nas" in final and "4/8 trials" in final
    assert "running 2, failed 1, best val acc 0.8750" in final
    assert "<" in final  # tqdm's elapsed<remaining
    assert text.count("\n") == 1  # one bar, ended once
