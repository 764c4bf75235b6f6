"""The progress utility: periodic lines off a terminal with done/total and ETA."""
import io

import pytest

from sde_diffusion.progress import LineProgress, Progress, format_seconds, progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_line_every_period_with_eta():
    clock, out = Clock(), io.StringIO()
    bar = LineProgress(100, "sample", every=10.0, stream=out, clock=clock)
    for i in range(100):
        clock.now += 0.5  # 0.5 s per unit: 50 s in all
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # at 10, 20, 30, 40 and 50 s (close adds none: nothing new)
    # at 10 s: 20 done, ETA = 10 * 80 / 20 = 40 s
    assert lines[0] == "sample: 20/100 (20%) 10s elapsed, ETA 40s"
    assert lines[2] == "sample: 60/100 (60%) 30s elapsed, ETA 20s"
    assert lines[-1] == "sample: 100/100 (100%) 50s elapsed, ETA 0s"


def test_short_job_prints_nothing_and_resume_eta():
    clock, out = Clock(), io.StringIO()
    with LineProgress(10, "x", every=30.0, stream=out, clock=clock) as bar:
        clock.now += 1
        bar.update(10)
    assert out.getvalue() == ""
    clock, out = Clock(), io.StringIO()
    bar = LineProgress(100, "train", every=5.0, initial=50, stream=out, clock=clock)
    clock.now = 5.0
    bar.update(10)  # 10 units in 5 s, 40 left -> 20 s (the 50 resumed units do not count)
    assert out.getvalue().strip() == "train: 60/100 (60%) 5s elapsed, ETA 20s"


def test_unknown_total_counts():
    clock, out = Clock(), io.StringIO()
    bar = LineProgress(None, "likelihood", every=1.0, unit="NFE", stream=out, clock=clock)
    clock.now = 2.0
    bar.update(7)
    assert out.getvalue().strip() == "likelihood: 7 NFE 2s elapsed"


def test_choice_of_display(monkeypatch):
    monkeypatch.delenv("SDE_DIFFUSION_PROGRESS", raising=False)
    assert type(progress(3, enabled=False)) is Progress
    assert isinstance(progress(3), LineProgress)  # pytest's stderr is not a terminal
    monkeypatch.setenv("SDE_DIFFUSION_PROGRESS", "0")
    assert type(progress(3)) is Progress
    monkeypatch.delenv("SDE_DIFFUSION_PROGRESS")
    monkeypatch.setenv("SDE_DIFFUSION_PROGRESS_EVERY", "soon")
    with pytest.raises(ValueError, match="SDE_DIFFUSION_PROGRESS_EVERY='soon'"):
        progress(3)


@pytest.mark.parametrize("s,text", [(5, "5s"), (65, "1m05s"), (7260, "2h01m"), (float("inf"), "?")])
def test_format_seconds(s, text):
    assert format_seconds(s) == text


def test_postfix_in_the_line():
    clock, out = Clock(), io.StringIO()
    bar = LineProgress(4, "train", every=1.0, stream=out, clock=clock)
    bar.set_postfix(loss="0.4100")
    clock.now = 1.0
    bar.update(1)
    assert out.getvalue().strip() == "train: 1/4 (25%) 1s elapsed, ETA 3s [loss=0.4100]"
