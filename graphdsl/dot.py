"""Running graphviz's ``dot`` and writing pictures.

:mod:`graphdsl.render` builds ``graphviz.Digraph`` objects and never runs
anything; this module turns them into bytes and files:

- :func:`pipe`, :func:`to_svg`, :func:`to_svgs` and :func:`iteration_svg`
  run ``dot`` (one process per picture, or one for many pictures). Every
  ``dot`` child is known, so :func:`stop_children` can end them all when
  graphdsl itself is told to stop (the command line calls it on SIGTERM,
  SIGINT and SIGHUP).
- :func:`write` draws one picture into a file; :func:`write_run` draws a
  whole run into a folder. Every file goes through
  :func:`graphdsl.fileio.write_atomic`.
- A run's folder keeps a manifest, ``.graphdsl-frames.json``: the name, size
  and SHA-256 of every picture graphdsl wrote there. A later run removes an
  old frame only when the manifest lists it and the file still has exactly
  those bytes; anything else in the folder (the model, notes, a frame someone
  edited) is never removed. The folder is locked (``flock``) while a run
  writes into it, so two runs at once leave one complete set, not a mix.

>>> import graphdsl
>>> m = graphdsl.load("models/linear.bp")
>>> to_svg(m.render("backward"), inline=True).startswith("<svg")
True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import subprocess
import threading
import time

from .errors import RenderError, UsageError
from .fileio import describe, write_atomic
from .render import FORMATS, iteration_graph, run_frames

_INSTALL_HINT = ("install graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
                 "`brew install graphviz` (macOS), or run ./dev setup")


class DotMissing(RenderError):
    """graphviz's ``dot`` program is not installed (or not on PATH)."""


# --- running dot ----------------------------------------------------------------------

# Every running `dot` child, so that a signal to graphdsl can end them: a child
# is not in graphdsl's way when graphdsl dies, it simply keeps running. The
# lock is re-entrant because stop_children runs in a signal handler, which
# interrupts the main thread wherever it is, possibly inside `pipe` itself.
_children_lock = threading.RLock()
_children: set = set()
_stopped = False


def pipe(source, fmt: str) -> bytes:
    """Run ``dot -T<fmt>`` on DOT text (str or bytes); returns what it writes.

    Raises :class:`DotMissing` (with an install hint) when ``dot`` is not
    installed, :class:`RenderError` when it fails or graphdsl is stopping.

    >>> pipe("digraph { a -> b }", "svg")[:5]
    b'<?xml'
    """
    if isinstance(source, str):
        source = source.encode("utf-8")
    # the command graphviz's own Python library runs, so the bytes are the same
    cmd = ["dot", "-Kdot", f"-T{fmt}"]
    with _children_lock:
        if _stopped:
            raise RenderError("graphdsl is stopping; `dot` was not started")
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise DotMissing("graphviz's `dot` program was not found, so no picture could be drawn",
                             hint=_INSTALL_HINT) from None
        except OSError as e:
            raise RenderError(f"graphviz's `dot` could not be started: {e.strerror or e}") from None
        _children.add(proc)
    try:
        # communicate() reads while it writes: with many graphs in one input, dot
        # writes the first pictures before it has read the last graph
        out, err = proc.communicate(source)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        with _children_lock:
            _children.discard(proc)
    if proc.returncode != 0:
        if proc.returncode < 0 and _stopped:
            raise RenderError("graphdsl is stopping; `dot` was ended")
        detail = err.decode("utf-8", "replace").strip().splitlines()
        raise RenderError("graphviz's `dot` failed" + (f": {detail[-1]}" if detail else ""),
                          hint="run again with --debug and report the model")
    return out


def stop_children() -> int:
    """End every running ``dot`` child and start no more until
    :func:`allow_children`; returns how many were ended. Safe to call from a
    signal handler (it is what the command line does on SIGTERM and SIGINT).

    >>> stop_children()
    0
    >>> pipe("digraph { a }", "svg")
    Traceback (most recent call last):
    ...
    graphdsl.errors.RenderError: error: graphdsl is stopping; `dot` was not started
    >>> allow_children()
    """
    global _stopped
    with _children_lock:
        _stopped = True
        procs = list(_children)
    for proc in procs:
        try:
            proc.kill()
        except OSError:
            pass
    return len(procs)


def allow_children() -> None:
    """Undo :func:`stop_children` (for a process that goes on, e.g. a test runner)."""
    global _stopped
    with _children_lock:
        _stopped = False


def to_svg(graph, *, inline: bool = False) -> str:
    """The graph drawn by ``dot`` as SVG text; ``inline=True`` starts it at
    ``<svg`` (no XML prolog, doctype or comments), ready to put inside HTML.

    Raises :class:`RenderError` when ``dot`` is missing (with an install hint) or fails.
    """
    text = pipe(graph.source, "svg").decode("utf-8")
    return text[text.index("<svg"):] if inline else text


_SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def to_svgs(graphs) -> list[str]:
    """Many graphs drawn by ONE run of ``dot``, as ``<svg>`` elements (prolog
    and doctype stripped, ready to inline in HTML).

    ``dot`` lays out every graph of its input in turn and writes one SVG
    document per graph: a single process for a whole run instead of one per
    iteration (20 frames of the seed: ~0.14 s instead of ~1.8 s). Raises
    RenderError when ``dot`` is missing, fails, or does not give one picture
    per graph.

    >>> import graphdsl
    >>> m = graphdsl.load("models/linear.bp")
    >>> len(to_svgs([m.render("structure"), m.render("forward")]))
    2
    """
    graphs = list(graphs)
    if not graphs:
        return []
    text = pipe("\n".join(g.source for g in graphs), "svg").decode("utf-8")
    svgs = _SVG.findall(text)
    if len(svgs) != len(graphs):
        raise RenderError(f"graphviz's `dot` drew {len(svgs)} pictures for {len(graphs)} graphs")
    return svgs


def iteration_svg(model, trace, i: int, view: str = "backward", *, inline: bool = False,
                  **options) -> str:
    """Row ``i`` of a run drawn as an SVG string (the picture of
    :func:`graphdsl.render.iteration_graph`); ``inline=True`` drops the XML
    prolog so the text can go inside HTML.

    Raises :class:`UsageError` when the trace has no row ``i``,
    :class:`RenderError` when graphviz's ``dot`` is missing or fails.

    >>> import graphdsl
    >>> m = graphdsl.load("models/linear.bp")
    >>> "iteration 1" in iteration_svg(m, m.solve(target=150), 1)
    True
    """
    return to_svg(iteration_graph(model, trace, i, view, **options), inline=inline)


# --- one picture into a file ------------------------------------------------------------

def format_of(path, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the file's extension.

    Raises UsageError for an unknown format.

    >>> format_of("a.png"), format_of("a.gv"), format_of("a.svg", "pdf")
    ('png', 'dot', 'pdf')
    """
    if fmt is None:
        ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
        fmt = {"gv": "dot", "": "svg"}.get(ext, ext)
    if fmt not in FORMATS:
        raise UsageError(f"unknown picture format '{fmt}'",
                         hint="use one of: " + ", ".join(FORMATS) + " (or a file ending in one)")
    return fmt


def default_name(model_name: str, view: str, *, ops=False, wrt=None, blank=False,
                 focus=None, depth=None, fmt: str = "svg", sample=None) -> str:
    """The file name ``graphdsl render`` writes when no -o is given; every
    option that changes the picture is in it, so one never replaces another.

    >>> default_name("models/linear.bp", "backward", wrt="b")
    'linear-backward-wrt-b.svg'
    >>> default_name("models/linear.bp", "structure", focus="x", depth=1)
    'linear-structure-focus-x-1.svg'
    >>> default_name("models/xor.bp", "backward", sample=3)
    'xor-backward-sample-3.svg'
    """
    stem = os.path.splitext(os.path.basename(model_name))[0] or "model"
    parts = [stem, view]
    if ops:
        parts.append("ops")
    if sample is not None:
        parts.append(f"sample-{sample}")
    if focus:
        parts.append(f"focus-{focus}" + (f"-{depth}" if depth is not None else ""))
    if wrt:
        parts.append(f"wrt-{wrt}")
    if blank:
        parts.append("blank")
    return "-".join(parts) + "." + fmt


def write(graph, path, fmt: str | None = None, *, protect=()) -> str:
    """Draw ``graph`` into ``path`` (svg, png, pdf, or the DOT text); returns the path.

    The file is written by :func:`graphdsl.fileio.write_atomic` (a FIFO or
    device gets a stream, a symlink is written through). When ``dot`` is
    missing the DOT text is written beside (``name.dot``) and
    :class:`DotMissing` says so and how to install graphviz. Raises
    UsageError when the path cannot be written or is protected.

    >>> import graphdsl, tempfile, os
    >>> path = write(graphdsl.load("models/linear.bp").render(), os.path.join(tempfile.mkdtemp(), "a.dot"))
    >>> open(path).read().startswith("digraph linear {")
    True
    """
    fmt = format_of(path, fmt)
    path = os.fspath(path)
    if fmt == "dot":
        write_atomic(path, graph.source, protect=protect)
        return path
    try:
        data = pipe(graph.source, fmt)
    except DotMissing as e:
        dot_path = os.path.splitext(path)[0] + ".dot"
        write_atomic(dot_path, graph.source, protect=protect)
        e.notes.append(f"the DOT text was written to {dot_path}; "
                       f"`dot -T{fmt} {dot_path} -o {path}` draws it once graphviz is installed")
        raise
    write_atomic(path, data, protect=protect)
    return path


# --- a run into a folder -----------------------------------------------------------------

#: the file in a --render folder that lists what graphdsl wrote there
MANIFEST = ".graphdsl-frames.json"
#: how long a run waits for another run writing into the same folder (seconds)
LOCK_TIMEOUT = 60.0
# only names graphdsl gives to frames are ever removed, even when a manifest lists others
_FRAME_NAME = re.compile(r"(start|end|iter-\d+|epoch-\d+)-[a-z]+\.(svg|png|pdf|dot)")


def check_folder(directory, option: str = "--render") -> None:
    """Refuse, before any work, a folder that pictures cannot be written into:
    a file or device in its place, a folder that cannot be written or created.

    Raises UsageError (saying which, with ``option`` in front).

    >>> try:
    ...     check_folder("/dev/null")
    ... except UsageError as e:
    ...     print(e.message)
    --render: /dev/null is a character device, not a folder
    """
    directory = os.fspath(directory)
    hint = "give a folder name for the pictures"
    path = os.path.abspath(directory)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UsageError(f"{option}: {directory} is a {describe(path)}, not a folder", hint=hint)
    existing = path
    while not os.path.isdir(existing):
        parent = os.path.dirname(existing)
        if os.path.lexists(existing) or parent == existing:
            raise UsageError(f"{option}: cannot create {directory}: "
                             f"{existing} is a {describe(existing)}, not a folder", hint=hint)
        existing = parent
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "write into" if existing == path else "create"
        raise UsageError(f"{option}: cannot {what} {directory}: permission denied", hint=hint)


def write_run(model, trace, directory, fmt: str = "svg", *, protect=(),
              lock_timeout: float = LOCK_TIMEOUT, progress=None, **options) -> list[str]:
    """Draw :func:`graphdsl.render.run_frames` into ``directory``; returns the paths written.

    ``dot`` runs for several frames at once (it is a separate process). The
    folder is locked while the frames are written; a run waits up to
    ``lock_timeout`` seconds for another one to finish. Frames an earlier run
    wrote and this one does not (a longer run's last iterations) are removed
    when :data:`MANIFEST` proves graphdsl wrote them and they are unchanged.
    ``progress`` (a :class:`graphdsl.progress.Progress`, optional) is given
    the number of frames and told of each one written.

    Raises UsageError when the folder cannot be used or stays locked,
    :class:`graphdsl.render.PictureTooBig` before anything is written, and
    :class:`DotMissing` after writing every frame as DOT text.

    >>> import graphdsl, tempfile, os
    >>> m = graphdsl.load("models/linear.bp")
    >>> folder = tempfile.mkdtemp()
    >>> [os.path.basename(p) for p in write_run(m, m.solve(target=150), folder, "dot")][3:6]
    ['iter-000-backward.dot', 'iter-001-backward.dot', 'iter-002-backward.dot']
    >>> sorted(os.listdir(folder))[0]
    '.graphdsl-frames.json'
    """
    return write_frames(lambda: run_frames(model, trace, **options), directory, fmt,
                        protect=protect, lock_timeout=lock_timeout, progress=progress)


def write_frames(make_frames, directory, fmt: str = "svg", *, protect=(),
                 lock_timeout: float = LOCK_TIMEOUT, progress=None) -> list[str]:
    """Draw the frames ``make_frames()`` returns ((file stem, Digraph) pairs,
    as :func:`graphdsl.render.run_frames` or :func:`graphdsl.render.fit_frames`
    make them) into ``directory``, as :func:`write_run` says; returns the paths
    written. The folder is checked before the frames are made."""
    fmt = format_of("x", fmt)
    directory = os.fspath(directory)
    check_folder(directory)
    frames = make_frames()
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--render: cannot create {directory}: {e.strerror or e}") from None
    names = [f"{stem}.{fmt}" for stem, _graph in frames]
    if progress is not None:
        progress.total = len(frames)
    with _locked(directory, lock_timeout):
        old = _read_manifest(directory)
        written: dict[str, dict] = {}
        done = False
        try:
            _write_frames(frames, names, directory, fmt, protect, written,
                          progress.advance if progress is not None else None)
            done = True
        finally:
            if done:
                _remove_stale(directory, old, written, protect)
                keep = written
            else:
                # a failed run forgets nothing: what it wrote is listed with what was there
                keep = {**old, **written}
            _write_manifest(directory, keep)
    return [os.path.join(directory, n) for n in names]


def _write_frames(frames, names, directory, fmt, protect, written, tick=None) -> None:
    record = threading.Lock()

    def put(name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        write_atomic(os.path.join(directory, name), data, protect=protect, follow=False)
        with record:
            written[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        if tick is not None:
            tick()

    if fmt == "dot":
        for (_stem, graph), name in zip(frames, names):
            put(name, graph.source)
        return
    # A missing `dot` is found by the first frame; the rest are then written as DOT.
    try:
        put(names[0], pipe(frames[0][1].source, fmt))
    except DotMissing as e:
        for (stem, graph) in frames:
            put(f"{stem}.dot", graph.source)
        e.notes[:] = [f"the DOT text of all {len(frames)} pictures was written to {directory}"]
        raise
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda fn: put(fn[1], pipe(fn[0][1].source, fmt)),
                      zip(frames[1:], names[1:])))


@contextlib.contextmanager
def _locked(directory: str, timeout: float):
    """Hold an exclusive ``flock`` on the folder itself (no lock file to leave
    behind); wait up to ``timeout`` seconds for another holder."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock, as before there was one
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as e:
        raise UsageError(f"--render: cannot open {directory}: {e.strerror or e}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UsageError(
                        f"--render: another graphdsl run is writing pictures into {directory} "
                        f"(waited {timeout:g} s)",
                        hint="wait for it to finish, or give another folder") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _read_manifest(directory: str) -> dict[str, dict]:
    """The frames the manifest lists, by name; an unreadable or foreign
    manifest proves nothing, so it lists nothing."""
    try:
        with open(os.path.join(directory, MANIFEST), "rb") as f:
            data = json.loads(f.read(16 * 2**20))
        files = data["files"] if data.get("written-by") == "graphdsl" else {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {name: entry for name, entry in files.items()
            if isinstance(entry, dict) and isinstance(entry.get("bytes"), int)
            and isinstance(entry.get("sha256"), str) and _FRAME_NAME.fullmatch(name)}


def _write_manifest(directory: str, files: dict[str, dict]) -> None:
    data = {"written-by": "graphdsl", "version": 1, "files": dict(sorted(files.items()))}
    write_atomic(os.path.join(directory, MANIFEST), json.dumps(data, indent=1) + "\n", follow=False)


def _remove_stale(directory: str, old: dict, written: dict, protect) -> None:
    """Delete what the manifest says graphdsl wrote and this run did not
    rewrite, if each file still is what graphdsl wrote."""
    guarded = {os.path.realpath(os.fspath(p)) for p in protect if p is not None}
    for name, entry in old.items():
        if name in written:
            continue
        path = os.path.join(directory, name)
        if os.path.realpath(path) in guarded or not _unchanged(path, entry):
            continue
        try:
            os.unlink(path)
        except OSError:
            pass


def _unchanged(path: str, entry: dict) -> bool:
    """A regular file (not a link) with the size and SHA-256 the manifest recorded."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != entry["bytes"]:
            return False
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest() == entry["sha256"]
    except OSError:
        return False
