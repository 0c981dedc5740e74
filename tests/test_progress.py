"""Progress on long work: a line on a terminal's stderr, with the share done and
the time left; nothing at all in a pipe, a file or next to --json.

The CLI is run as a real subprocess with its stderr on a pseudo-terminal
(os.openpty), as a teacher's terminal would be, and again with a pipe.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

import pytest

from graphdsl.progress import Progress, format_duration, progress

# a gradient-descent run of the seed long enough (61 iterations) that the
# report takes a second or more, so the line is redrawn with an estimate
LONG_RUN = ["--target", "150", "--method", "gd", "--lr", "0.00002", "--max-iter", "60",
            "--tol", "1e-13"]


def _cli(args, *, tty: bool, cwd) -> tuple[int, str, str]:
    """Run `python -m graphdsl ARGS`; stderr on a pseudo-terminal when ``tty``."""
    cmd = [sys.executable, "-m", "graphdsl", *map(str, args)]
    env = dict(os.environ, TERM="xterm", COLUMNS="120")
    if not tty:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
        return p.returncode, p.stdout, p.stderr
    master, slave = os.openpty()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env=env)
    finally:
        os.close(slave)
    chunks = []
    out = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()))
    reader.start()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:   # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = p.wait(timeout=120)
    reader.join()
    return code, out[0].decode("utf-8"), b"".join(chunks).decode("utf-8")


def test_report_shows_progress_with_time_left_on_a_terminal(tmp_path, linear_path):
    code, out, err = _cli(["report", linear_path, *LONG_RUN, "-o", tmp_path / "r.html"],
                          tty=True, cwd=tmp_path)
    assert code == 1, err             # max-iter: not converged, the page is written anyway
    assert "wrote" in out and (tmp_path / "r.html").exists()
    lines = [part for part in err.split("\r") if part.startswith("report ")]
    assert lines, err
    shares = [int(line.split("%")[0].split()[-1]) for line in lines if "%" in line]
    assert shares == sorted(shares) and shares[-1] == 100, shares
    assert any("left" in line for line in lines), lines
    # the line is erased before the error message, which starts on a clean line
    assert "\r" + " " * 20 in err and "\rerror: no convergence" in err.replace("\r\n", "\n")


def test_report_in_a_pipe_writes_no_progress(tmp_path, linear_path):
    code, out, err = _cli(["report", linear_path, "--target", "150", "-o", tmp_path / "r.html"],
                          tty=False, cwd=tmp_path)
    assert code == 0
    assert err == "" and out.startswith("wrote ")


def test_run_render_shows_progress_and_json_stays_clean(tmp_path, linear_path):
    code, out, err = _cli(["run", linear_path, "--target", "150", "--json",
                           "--render", tmp_path / "frames"], tty=True, cwd=tmp_path)
    assert code == 0, err
    json.loads(out)                   # stdout is the JSON object and nothing else
    assert "pictures 100% [####################]" in err
    assert f"wrote 9 pictures to {tmp_path / 'frames'}" in err
    assert len(list((tmp_path / "frames").glob("*.svg"))) == 9


def test_run_render_in_a_pipe_writes_no_progress(tmp_path, linear_path):
    code, out, err = _cli(["run", linear_path, "--target", "150", "--render", tmp_path / "f"],
                          tty=False, cwd=tmp_path)
    assert code == 0
    assert err == f"wrote 9 pictures to {tmp_path / 'f'}\n"


# --- the module itself ------------------------------------------------------------------------

def test_a_stream_that_is_not_a_terminal_gets_nothing():
    s = io.StringIO()
    with progress(10, "work", s) as p:
        for _ in range(10):
            p.advance()
    assert s.getvalue() == "" and p.done == 10 and not p.enabled


def test_the_line_is_drawn_then_erased():
    s = io.StringIO()
    with progress(4, "work", s, enabled=True) as p:
        p.advance(4)
    text = s.getvalue()
    assert "work 100% [####################]" in text
    last = text.split("\r")[-2:]
    assert last[1] == "" and set(last[0]) == {" "}          # erased with spaces, cursor home


def test_advances_from_many_threads_all_count():
    p = Progress(8000, "work", io.StringIO(), enabled=True)
    with p:
        threads = [threading.Thread(target=lambda: [p.advance() for _ in range(1000)])
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert p.done == 8000


def test_time_left_follows_the_pace_after_the_first_step():
    p = Progress(100, "work", io.StringIO(), enabled=False)
    t0 = p._start
    p._first = (t0 + 5.0, 1)        # a slow first step (imports) is not counted
    p.done = 51
    p._last_advance = t0 + 10.0
    p._left_at_advance = p._estimate(t0 + 10.0)
    # 50 steps in 5 s: 49 more take about 4.9 s
    assert p._left_at_advance == pytest.approx(4.9)
    assert "about 5 s left" in p.line(t0 + 10.0)
    assert "about 3 s left" in p.line(t0 + 12.0)     # counts down between steps


def test_a_few_big_steps_get_an_estimate_from_the_first():
    # a benchmark's sizes: the first step is a fair share, so its pace counts
    p = Progress(10, "bench", io.StringIO(), enabled=False)
    t0 = p._start
    p._first = (t0 + 6.0, 3)
    p.done = 3
    assert p._estimate(t0 + 6.0) == pytest.approx(14.0)     # 2 s per unit, 7 to go
    tiny = Progress(1000, "report", io.StringIO(), enabled=False)
    tiny._first = (tiny._start + 0.5, 1)                     # one step of 1000: too little
    tiny.done = 1
    assert tiny._estimate(tiny._start + 0.5) is None


def test_unknown_total_counts_what_is_done():
    p = Progress(None, "work", enabled=False, unit="frames")
    p.done = 12
    assert p.line(p._start + 3) == "work 12 frames done · 3 s"


def test_durations():
    assert [format_duration(s) for s in (0.4, 59.4, 60, 3599, 3600 * 2 + 61)] == \
        ["0 s", "59 s", "1 min 00 s", "59 min 59 s", "2 h 01 min"]


def test_a_failing_stream_turns_the_line_off():
    class Gone(io.StringIO):
        def write(self, text):
            raise OSError("terminal closed")

    with progress(3, "work", Gone(), enabled=True) as p:
        p.advance(3)
    assert not p.enabled and p.done == 3
