"""What graphdsl does to files and processes that are not its own: an output path
that is a symlink, a FIFO, a device or a socket; a --render folder with other
people's files in it, or two runs writing into it at once; `-o -`; odd model
file names; `dot` children when graphdsl is told to stop.

Special files are made in a temporary folder. Every test that waits on a FIFO,
a terminal or a process does so with a timeout, so none can hang."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import pytest

import graphdsl
from graphdsl import dot
from graphdsl.fileio import write_atomic

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30


@pytest.fixture
def seed(linear_path):
    return graphdsl.load(linear_path)


def wide(n: int) -> str:
    """n statements over three params: big enough that `dot` takes a while."""
    lines = ["param p0 = 1", "param p1 = 2", "param p2 = 3"]
    for k in range(n):
        lines.append(f"n{k} = 0.5*tanh(p{k % 3}) + 0.3*p{(k + 1) % 3}*p{(k + 2) % 3}")
    return "\n".join(lines) + "\noutput n0\n"


# --- -o: what is at the path decides ------------------------------------------------------

@contextmanager
def reading(path):
    """Read everything written into the FIFO or terminal ``path`` in a thread;
    yields a list that holds the bytes once the writer has closed it."""
    got = []

    def read():
        with open(path, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        yield got
    finally:
        t.join(TIMEOUT)
        if t.is_alive():  # the writer never came: let the reader go, then fail
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            t.join(TIMEOUT)
            pytest.fail(f"nothing was written into {path}")


def test_a_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path):
    out = tmp_path / "a.svg"
    out.write_text("old")
    out.chmod(0o640)
    inode = out.stat().st_ino
    write_atomic(out, "new")
    assert out.read_text() == "new" and stat.S_IMODE(out.stat().st_mode) == 0o640
    assert out.stat().st_ino != inode  # renamed into place, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["a.svg"]  # no temporary file left


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path, cli, linear_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "picture.svg"
    target.write_text("old")
    target.chmod(0o604)
    link = tmp_path / "link.svg"
    link.symlink_to(Path("real") / "picture.svg")
    chain = tmp_path / "chain.svg"
    chain.symlink_to("link.svg")
    r = cli("render", linear_path, "-o", chain)
    assert r.code == 0, r.err
    assert chain.is_symlink() and link.is_symlink() and os.readlink(link) == "real/picture.svg"
    assert target.read_text("utf-8").startswith("<?xml") and "</svg>" in target.read_text("utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o604
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["picture.svg"]


def test_a_dangling_symlink_is_refused_and_nothing_is_created(tmp_path, cli, linear_path):
    link = tmp_path / "out.svg"
    link.symlink_to("missing/picture.svg")
    r = cli("render", linear_path, "-o", link)
    assert r.code == 2 and "symbolic link to missing/picture.svg, which does not exist" in r.err
    assert "Traceback" not in r.err
    assert link.is_symlink() and not (tmp_path / "missing").exists()


def test_a_symlink_to_the_model_is_still_refused(tmp_path, cli):
    model = tmp_path / "m.bp"
    model.write_text("param w = 3\nz = 2*w\n")
    link = tmp_path / "out.dot"
    link.symlink_to("m.bp")
    r = cli("render", model, "-o", link)
    assert r.code == 2 and "refusing to write over the model file" in r.err
    assert model.read_text() == "param w = 3\nz = 2*w\n" and link.is_symlink()


def test_a_fifo_gets_the_picture_as_a_stream_and_stays_a_fifo(tmp_path, cli, linear_path):
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    with reading(fifo) as got:
        r = cli("render", linear_path, "-o", fifo)
    assert r.code == 0, r.err
    assert got[0].decode("utf-8") == graphdsl.load(linear_path).render().source
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.dot"]


def test_a_symlink_to_a_fifo_streams_into_the_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "link").symlink_to("pipe")
    with reading(fifo) as got:
        write_atomic(tmp_path / "link", b"x" * 300_000)  # more than a pipe holds at once
    assert got[0] == b"x" * 300_000
    assert (tmp_path / "link").is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_terminal_gets_the_picture_as_a_stream(tmp_path):
    import tty

    master, slave = os.openpty()
    try:
        tty.setraw(slave)  # no newline translation: the bytes arrive as written
        path = os.ttyname(slave)
        assert stat.S_ISCHR(os.stat(path).st_mode)
        data = b"<svg>" + b"y" * 2000 + b"</svg>\n"
        got = bytearray()

        def read():
            while len(got) < len(data):
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                got.extend(chunk)

        t = threading.Thread(target=read, daemon=True)
        t.start()
        write_atomic(path, data)
        t.join(TIMEOUT)
        assert bytes(got) == data
        assert stat.S_ISCHR(os.stat(path).st_mode)
    finally:
        os.close(slave)
        os.close(master)


def test_a_character_device_is_written_into_not_replaced(tmp_path, cli, linear_path):
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device here ({e}); the terminal test covers devices")
    null.chmod(0o666)
    r = cli("render", linear_path, "--view", "backward", "-o", null, "--format", "svg")
    assert r.code == 0, r.err
    st = os.lstat(null)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st.st_mode) == 0o666
    r = cli("report", linear_path, "--target", "150", "-o", null)
    assert r.code == 0, r.err
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_a_socket_is_refused_and_left_alone(tmp_path, cli, linear_path):
    path = tmp_path / "s.svg"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        r = cli("render", linear_path, "-o", path)
        assert r.code == 2 and "refusing to write into" in r.err and "it is a socket" in r.err
        assert "Traceback" not in r.err and r.err.count("error:") == 1
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_directory_is_refused(tmp_path, cli, linear_path):
    r = cli("render", linear_path, "-o", tmp_path)
    assert r.code == 2 and "is a directory" in r.err


# --- -o - means stdout, for render and report alike -----------------------------------------

def test_report_dash_o_dash_writes_the_page_on_stdout(tmp_path, cli, linear_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("report", linear_path, "--target", "150", "-o", "-")
    assert r.code == 0, r.err
    assert r.out.startswith("<!DOCTYPE html>") and r.out.rstrip().endswith("</html>")
    assert "wrote" not in r.out and "wrote" not in r.err
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    from graphdsl.report import build_report

    m = graphdsl.load(linear_path)
    assert r.out == build_report(m, m.solve(target=150)).html
    r = cli("render", linear_path, "-o", "-", "--format", "dot")
    assert r.code == 0 and r.out.startswith("digraph") and list(tmp_path.iterdir()) == []


# --- run --render DIR: refused before the run when it cannot be written -----------------------

@pytest.mark.parametrize("where, words", [
    ("/dev/null", "is a character device, not a folder"),
    ("afile", "is a file, not a folder"),
    ("afile/frames", "afile is a file, not a folder"),
])
def test_an_unusable_render_folder_is_refused_before_the_run(tmp_path, cli, linear_path,
                                                             where, words, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("keep me")
    calls = []
    monkeypatch.setattr(graphdsl.model.Model, "solve",
                        lambda *a, **k: calls.append(1) or pytest.fail("the run started"))
    r = cli("run", linear_path, "--target", "150", "--render", where)
    assert r.code == 2 and words in r.err and "--render:" in r.err
    assert r.out == "" and calls == []
    assert (tmp_path / "afile").read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into any folder")
def test_an_unwritable_render_folder_is_refused_before_the_run(tmp_path, cli, linear_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        r = cli("run", linear_path, "--target", "150", "--render", locked)
        assert r.code == 2 and "permission denied" in r.err and r.out == ""
        r = cli("run", linear_path, "--target", "150", "--render", locked / "sub")
        assert r.code == 2 and "cannot create" in r.err and r.out == ""
    finally:
        locked.chmod(0o700)


# --- run --render DIR: only what graphdsl wrote is removed ------------------------------------

def frames_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name != dot.MANIFEST}


def manifest(folder: Path) -> dict:
    return json.loads((folder / dot.MANIFEST).read_text("utf-8"))["files"]


def test_files_that_look_like_frames_are_never_removed(tmp_path, cli):
    folder = tmp_path / "frames"
    folder.mkdir()
    # the model itself lives in the folder, under a name the old pattern matched
    model = folder / "iter-999-model.dot"
    model.write_text((ROOT / "models" / "linear.bp").read_text("utf-8"))
    notes = folder / "iter-0001-notes.svg"
    notes.write_text("my notes")
    assert cli("run", model, "--target", "150", "--method", "frozen", "--render", folder).code == 0
    assert {"iter-003-backward.svg", "iter-004-backward.svg"} <= frames_in(folder)
    # a frame of the first run that someone edited is theirs now
    edited = folder / "iter-004-backward.svg"
    edited.write_text(edited.read_text("utf-8").replace("iteration", "ITERATION"))
    r = cli("run", model, "--target", "150", "--render", folder)
    assert r.code == 0, r.err
    assert not (folder / "iter-003-backward.svg").exists()  # graphdsl's, unchanged: removed
    assert edited.exists() and "ITERATION" in edited.read_text("utf-8")
    assert notes.read_text() == "my notes" and model.exists()
    written = {f"{s}-{v}.svg" for s in ("start", "end") for v in ("structure", "forward", "backward")}
    written |= {f"iter-{i:03d}-backward.svg" for i in range(3)}
    assert set(manifest(folder)) == written
    assert frames_in(folder) == written | {model.name, notes.name, edited.name}


def test_a_manifest_proves_nothing_about_files_it_did_not_hash(tmp_path, cli, linear_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    other = folder / "iter-007-backward.svg"
    other.write_text("someone else's")
    outside = tmp_path / "iter-001-backward.svg"
    outside.write_text("outside")
    forged = {"written-by": "graphdsl", "version": 1, "files": {
        other.name: {"bytes": 1, "sha256": "0" * 64},
        "../iter-001-backward.svg": {"bytes": 7, "sha256": hashlib.sha256(b"outside").hexdigest()},
        "notes.txt": {"bytes": 0, "sha256": hashlib.sha256(b"").hexdigest()},
    }}
    (folder / dot.MANIFEST).write_text(json.dumps(forged))
    (folder / "notes.txt").write_text("")
    assert cli("run", linear_path, "--target", "150", "--render", folder).code == 0
    assert other.read_text() == "someone else's" and outside.read_text() == "outside"
    assert (folder / "notes.txt").exists()
    (folder / dot.MANIFEST).write_text("not json {")
    assert cli("run", linear_path, "--target", "150", "--render", folder).code == 0
    assert other.exists() and "iter-000-backward.svg" in manifest(folder)


def test_a_symlink_among_the_frames_is_not_written_through(tmp_path, cli, linear_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("precious")
    (folder / "start-structure.svg").symlink_to(precious)
    r = cli("run", linear_path, "--target", "150", "--render", folder)
    assert r.code == 2 and "symbolic link" in r.err
    assert precious.read_text() == "precious" and (folder / "start-structure.svg").is_symlink()


def test_the_manifest_matches_the_files_after_a_missing_dot(tmp_path, cli, linear_path,
                                                              monkeypatch):
    folder = tmp_path / "frames"
    assert cli("run", linear_path, "--target", "150", "--render", folder).code == 0
    svgs = set(manifest(folder))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    r = cli("run", linear_path, "--target", "150", "--render", folder)
    assert r.code == 1 and "apt-get install graphviz" in r.err
    listed = manifest(folder)
    # a failed run forgets nothing: the svgs are still listed, the .dot files too
    assert set(listed) == svgs | {n.replace(".svg", ".dot") for n in svgs}
    for name, entry in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == entry["sha256"]


def test_a_locked_folder_makes_the_next_run_wait_then_refuse(tmp_path, seed):
    import fcntl

    folder = tmp_path / "frames"
    folder.mkdir()
    trace = seed.solve(target=150)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(graphdsl.UsageError, match="another graphdsl run is writing"):
            dot.write_run(seed, trace, folder, lock_timeout=0.3)
        assert time.monotonic() - started >= 0.3
        assert list(folder.iterdir()) == []
        threading.Timer(0.3, fcntl.flock, (fd, fcntl.LOCK_UN)).start()
        paths = dot.write_run(seed, trace, folder, lock_timeout=TIMEOUT)  # waits, then writes
        assert len(paths) == 9 and all(os.path.exists(p) for p in paths)
    finally:
        os.close(fd)


def test_two_runs_into_one_folder_at_once_leave_one_whole_set(tmp_path):
    folder = tmp_path / "frames"
    linear = str(ROOT / "models" / "linear.bp")
    for attempt in range(2):
        runs = [subprocess.Popen([sys.executable, "-m", "graphdsl", "run", linear, "--target", "150",
                                  "--method", method, "--render", str(folder)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for method in ("frozen", "split", "frozen", "split")]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]
        for p in runs:
            p.stdout.close()
            p.stderr.close()
        assert all(code == 0 for code, _ in results), results
        assert {err.strip().split(" pictures")[0] for _, err in results} == {"wrote 11", "wrote 9"}
        listed = manifest(folder)
        # one run's complete set, all of it, nothing of the other run's
        assert frames_in(folder) == set(listed)
        iters = sorted(n for n in listed if n.startswith("iter-"))
        assert iters in ([f"iter-{i:03d}-backward.svg" for i in range(5)],
                         [f"iter-{i:03d}-backward.svg" for i in range(3)])
        last = int(iters[-1][5:8])
        for name, entry in listed.items():
            data = (folder / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        # frames of one run: the end picture is the last iteration's
        assert f"iteration {last}".encode() in (folder / "end-backward.svg").read_bytes()


# --- model file names --------------------------------------------------------------------------

@pytest.mark.parametrize("stem", ["back\\", "say \"hi\"", "a\\\"b", "<b>x<b>", "<x>", "<x", "学习率 θ",
                                  "graph", "-1"])
def test_any_file_name_gives_a_valid_picture(tmp_path, cli, stem):
    model = tmp_path / f"{stem}.bp"
    model.write_text("param w = 3\nz = 2*w\n")
    out = tmp_path / "out.svg"
    r = cli("render", model, "--view", "backward", "-o", out)
    assert r.code == 0, r.err
    assert r.err == ""  # no warning line from graphviz's library, no dot error
    root = ET.fromstring(out.read_text("utf-8"))
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert f"{stem}.bp" in texts  # the title names the file as it is


def test_a_usual_file_name_is_the_graph_name_unchanged(seed):
    assert seed.render().source.startswith("digraph linear {")
    assert graphdsl.loads("param w = 3\nz = 2*w", name="my model.bp").render().source \
        .startswith('digraph "my model" {')


# --- dot children end with graphdsl ------------------------------------------------------------

def marked_dots(mark: str, where: str = "environ") -> list[int]:
    """Pids of the live `dot` processes whose /proc/PID/``where`` holds ``mark``:
    a marker in the environment of the graphdsl that started them, or their
    parent's pid in ``status`` (other people's `dot` on this machine have neither)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "dot":
                    continue
            with open(f"/proc/{entry}/{where}", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if mark.encode() in env and state != "Z":  # a zombie has already ended
            pids.append(int(entry))
    return pids


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to find the dot children")
def test_stop_children_ends_running_dots_and_starts_no_more(tmp_path):
    source = graphdsl.loads(wide(1500), name="big.bp").render(force=True).source
    outcomes = []

    def draw():
        try:
            dot.pipe(source, "svg")
            outcomes.append("drawn")
        except graphdsl.RenderError as e:
            outcomes.append(e.message)

    threads = [threading.Thread(target=draw, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(marked_dots(f"PPid:\t{os.getpid()}\n", "status")) < 2:
            assert time.monotonic() < deadline and all(t.is_alive() for t in threads), outcomes
            time.sleep(0.01)
        assert dot.stop_children() == 2
        for t in threads:
            t.join(TIMEOUT)
        # each dot was ended by a signal, not left to finish its picture
        assert outcomes == ["graphdsl is stopping; `dot` was ended"] * 2
        with pytest.raises(graphdsl.RenderError, match="was not started"):
            dot.pipe("digraph { a }", "svg")
    finally:
        dot.allow_children()
    assert dot.pipe("digraph { a }", "svg").startswith(b"<?xml")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to find the dot children")
@pytest.mark.parametrize("how, args, at_once", [
    ("SIGTERM", ["render", "{big}", "--force", "-o", "{out}/big.svg"], 1),
    ("SIGINT", ["render", "{big}", "--force", "-o", "{out}/big.svg"], 1),
    ("SIGTERM", ["run", "{mid}", "--target", "3", "--render", "{out}/frames"], 2),  # the pool
    ("SIGTERM", ["report", "{mid}", "--target", "3", "-o", "{out}/r.html"], 1),   # one dot for all
])
def test_stopping_graphdsl_ends_its_dot_children(tmp_path, how, args, at_once):
    (tmp_path / "big.bp").write_text(wide(1500))
    (tmp_path / "mid.bp").write_text(wide(190))
    argv = [a.format(big=tmp_path / "big.bp", mid=tmp_path / "mid.bp", out=tmp_path) for a in args]
    mark = f"GRAPHDSL_TEST_MARK={uuid.uuid4().hex}"
    env = dict(os.environ, GRAPHDSL_TEST_MARK=mark.split("=")[1])
    proc = subprocess.Popen([sys.executable, "-m", "graphdsl", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        seen: set[int] = set()
        while len(marked_dots(mark)) < at_once:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no dot child appeared"
            time.sleep(0.05)
        seen.update(marked_dots(mark))
        proc.send_signal(getattr(signal, how))
        later: set[int] = set()  # no new dot may start once graphdsl is stopping
        while proc.poll() is None and time.monotonic() < deadline:
            later.update(marked_dots(mark))
            time.sleep(0.02)
        _out, err = proc.communicate(timeout=TIMEOUT)
        assert later <= seen, f"dot children {later - seen} started after the signal"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    signum = getattr(signal, how)
    assert proc.returncode == 128 + signum, err
    assert b"Traceback" not in err
    deadline = time.monotonic() + TIMEOUT
    while marked_dots(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked_dots(mark) == [], f"dot children {seen} outlived graphdsl"
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []  # the half-written picture went with it
