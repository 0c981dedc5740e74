"""A live page that follows a model file: ``graphdsl watch``.

A small local web server (the standard library's ``ThreadingHTTPServer``,
bound to 127.0.0.1 only) serves one page. The page holds the latest report
(built by the caller's ``build`` function, i.e. :func:`graphdsl.report.build_report`)
in an iframe and listens to server-sent events: when a watched file is saved,
a background thread rebuilds the report and the page swaps it in, keeping the
iteration and the scroll position the viewer was at. When the model has a
mistake the page shows the message with its caret above the last good
report, which stays visible, dimmed.

Three threads, none of which ever waits on another's work: the HTTP server
(one short-lived thread per request, one long-lived per open page), the
watcher (polls the files' size, mtime and content hash), and the builder
(one build at a time; a save during a build is built next). The page is
never blocked by a build: it keeps showing the last good report.

This module neither prints nor exits: the caller gets events through
``on_event``, in the thread that waits, and decides what to say.

>>> page = LivePage(lambda progress, quick: ("<p>hi</p>", "ok", []), [], port=0)
>>> page.state()["ok"], page.state()["page"]
(True, 0)
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import queue
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .errors import GraphdslError, UsageError
from .i18n import tr

#: how often the watched files are looked at (seconds)
POLL = 0.2
#: files up to this size are hashed at every poll (an edit that keeps the size
#: and lands in the same mtime tick is still seen); bigger ones only when
#: their size or mtime changes
HASH_ALWAYS = 1 << 20
#: an open page is sent a comment this often, so a proxy or the browser never
#: drops a quiet connection
KEEPALIVE = 15.0


class FileWatcher:
    """Notices when the content of any of ``paths`` changes.

    Polls with :func:`os.stat` (size, mtime, inode) and confirms with a hash
    of the content, so ``touch`` or a save of the same text does not count,
    and a file that vanishes (or comes back) does. Standard library only: a
    few files polled five times a second cost nothing, and polling works the
    same on every system and file system (network and container mounts
    included), where change-notification libraries differ.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.bp"
    >>> _ = p.write_text("param w = 1")
    >>> w = FileWatcher([p])
    >>> w.changed()
    False
    >>> _ = p.write_text("param w = 2")
    >>> w.changed()
    True
    """

    def __init__(self, paths):
        self.paths = [os.fspath(p) for p in paths]
        self._seen = {p: self._look(p, None) for p in self.paths}

    @staticmethod
    def _look(path, before):
        """(stat key, content hash) of ``path``; None when it cannot be read."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        if before is not None and before[0] == key and st.st_size > HASH_ALWAYS:
            return before
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return None
        return key, digest

    def changed(self) -> bool:
        """True when a file's content differs from the last call's (or it
        appeared or vanished). Waits a moment for a save that is still being
        written to settle, so half a file is not built."""
        now = {p: self._look(p, self._seen.get(p)) for p in self.paths}
        if all(_content(now[p]) == _content(self._seen.get(p)) for p in self.paths):
            self._seen = now
            return False
        while True:
            time.sleep(0.05)
            again = {p: self._look(p, now[p]) for p in self.paths}
            if all(_content(again[p]) == _content(now[p]) for p in self.paths):
                break
            now = again
        self._seen = now
        return True


def _content(seen):
    return None if seen is None else seen[1]


class LivePage:
    """The live page's server, watcher and builder.

    ``build(progress, quick)`` makes the report: it returns ``(html,
    summary, warnings)`` or raises :class:`GraphdslError` for a mistake in
    the model (any other exception is shown as an internal error);
    ``progress`` is a :class:`graphdsl.progress.Progress` the page reads to
    show how far a long build is. Each save is built twice: ``quick=True``
    first, a page without its slowest part (the plots take ~90% of a small
    model's report), shown at once, then the whole page, which replaces it
    unless a newer save came.

    ``paths`` are the files to watch. ``on_event(kind, text)`` is called
    with ``"built"`` and a summary, ``"warning"`` and a part the page left
    out, or ``"error"`` and the message, always from the thread that runs
    :meth:`wait` (never from a background thread, which could still be
    writing when the interpreter stops). Raises UsageError from :meth:`start`
    when the port cannot be opened.
    """

    def __init__(self, build, paths, *, port: int = 0, title: str = "", lang: str = "en",
                 on_event=None, poll: float = POLL):
        self.build = build
        self.paths = [os.fspath(p) for p in paths]
        self.port = port
        self.title = title or (os.path.basename(self.paths[0]) if self.paths else "graphdsl")
        self.lang = lang if lang in ("en", "zh") else "en"
        self.on_event = on_event or (lambda kind, text: None)
        self.poll = poll
        self._cond = threading.Condition()
        self._version = 0          # bumps on every change of state the page should see
        self._page = 0             # bumps with every good report
        self._html = b""
        self._whole = False        # the page is the whole report, not the quick one
        self._ok = True
        self._error = ""
        self._summary = ""
        self._updated = ""
        self._building: object | None = None   # the running build's Progress
        self._dirty = threading.Event()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- what the page sees ----------------------------------------------------------
    def state(self) -> dict:
        """The state as the page gets it (JSON-ready)."""
        with self._cond:
            bar = self._building
            d = {"version": self._version, "page": self._page, "whole": self._whole, "ok": self._ok,
                 "error": self._error, "summary": self._summary, "updated": self._updated,
                 "building": bar is not None}
        if bar is not None:
            d["done"], d["total"] = bar.done, bar.total
            left = bar.left()
            d["left"] = None if left is None else round(left, 1)
        return d

    def _changed(self, **fields) -> None:
        with self._cond:
            for k, v in fields.items():
                setattr(self, "_" + k, v)
            self._version += 1
            self._cond.notify_all()

    # -- running ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "LivePage":
        """Open the port, start the threads, queue the first build."""
        handler = type("Handler", (_Handler,), {"live": self})
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        except OSError as e:
            raise UsageError(f"--port {self.port}: cannot listen there ({e.strerror or e})",
                             hint="leave out --port to take a free one, or pick another "
                                  "above 1024") from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._dirty.set()
        for name, target in (("http", self._serve), ("watch", self._watch),
                             ("build", self._builder)):
            t = threading.Thread(target=target, name=f"graphdsl-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Close every open page's connection and the server; idempotent."""
        self._closing.set()
        self._dirty.set()
        with self._cond:
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # a build that is under way usually ends quickly once `dot` is stopped;
        # a long one is left behind (its thread is a daemon and writes nothing)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=1.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` (True) or ``timeout`` (False), passing the
        builder's events to ``on_event`` meanwhile. Wakes often, so Ctrl-C
        reaches the main thread at once."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._closing.is_set():
            try:
                kind, text = self._events.get(timeout=0.2)
            except queue.Empty:
                if end is not None and time.monotonic() >= end:
                    return False
                continue
            self.on_event(kind, text)
        return True

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def _watch(self) -> None:
        watcher = FileWatcher(self.paths)
        while not self._closing.wait(self.poll):
            if watcher.changed():
                self._dirty.set()

    def _builder(self) -> None:
        from .progress import Progress

        while True:
            self._dirty.wait()
            if self._closing.is_set():
                return
            self._dirty.clear()
            for quick in (True, False):
                if quick is False and self._dirty.is_set():
                    break   # a newer save: build that one instead
                if not self._build_once(Progress(None, "watch", enabled=False), quick):
                    break

    def _build_once(self, bar, quick: bool) -> bool:
        """One build; publishes the page or the message. True when it succeeded."""
        self._changed(building=bar)
        try:
            page, summary, warnings = self.build(bar, quick)
        except GraphdslError as e:
            self._changed(ok=False, error=str(e), building=None, updated=_now())
            self._events.put(("error", str(e)))
            return False
        except Exception as e:  # noqa: BLE001 - a bug (ours or a plugin's) must not stop the page
            text = (f"internal error: {type(e).__name__}: {e}\n"
                    f"   = help: this is a bug in graphdsl or in a plugin, not in your model")
            self._changed(ok=False, error=text, building=None, updated=_now())
            self._events.put(("error", text))
            return False
        self._changed(ok=True, error="", html=page.encode("utf-8"), page=self._page + 1,
                      whole=not quick, summary=summary, building=None if not quick else bar,
                      updated=_now())
        if not quick:
            for warning in warnings:
                self._events.put(("warning", warning))
            self._events.put(("built", summary))
        return True

    # -- the shell page --------------------------------------------------------------
    def shell(self) -> bytes:
        """The page the browser opens: the report's frame, the message box, the script."""
        from .report import script_json

        fields = {k: html.escape(tr("w_" + k, self.lang, name=self.title)) for k in
                  ("title", "watching", "kept", "first")}
        words = {k: tr("w_" + k, self.lang) for k in ("building", "lost", "updated", "left")}
        fields.update(lang=self.lang, words=script_json(words), css=_CSS, js=_JS)
        # one pass, so text from the model's name is never read as a field
        return re.sub(r"\{(\w+)\}", lambda m: fields[m.group(1)], _SHELL).encode("utf-8")

    def events(self, send) -> None:
        """Feed one open page: ``send(text)`` each state as a server-sent
        event, at once and then on every change, until the page goes away
        (``send`` raises OSError) or the server stops."""
        seen = -1
        last = time.monotonic()
        while not self._closing.is_set():
            with self._cond:
                if self._version == seen:
                    # while a build runs, wake up to report how far it got
                    self._cond.wait(0.5 if self._building is not None else 1.0)
                version = self._version
                building = self._building is not None
            if version != seen or building:
                send("data: " + json.dumps(self.state(), ensure_ascii=False) + "\n\n")
                seen, last = version, time.monotonic()
            elif time.monotonic() - last > KEEPALIVE:
                send(": still here\n\n")
                last = time.monotonic()

    def report(self) -> bytes:
        with self._cond:
            return self._html


def _now() -> str:
    return time.strftime("%H:%M:%S")


class _Handler(BaseHTTPRequestHandler):
    """GET /, /page/N (the last good report), /state (JSON), /events (SSE)."""

    live: LivePage
    protocol_version = "HTTP/1.1"
    server_version = "graphdsl-watch"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        """Quiet: the terminal belongs to the command line, not to requests."""

    def _host_ok(self) -> bool:
        # only pages opened as 127.0.0.1 or localhost: a web site that points
        # its own name at 127.0.0.1 (DNS rebinding) cannot read the model
        host = (self.headers.get("Host") or "").lower()
        port = self.live.port
        return host in (f"127.0.0.1:{port}", f"localhost:{port}")

    def _send(self, status, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self):  # noqa: N802 - http.server's naming
        if not self._host_ok():
            self._send(HTTPStatus.FORBIDDEN, b"open the page as 127.0.0.1 or localhost\n",
                       "text/plain; charset=utf-8")
            return
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(HTTPStatus.OK, self.live.shell(), "text/html; charset=utf-8")
        elif path.startswith("/page/"):
            body = self.live.report()
            if body:
                self._send(HTTPStatus.OK, body, "text/html; charset=utf-8")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"no page yet\n", "text/plain; charset=utf-8")
        elif path == "/state":
            self._send(HTTPStatus.OK, json.dumps(self.live.state(), ensure_ascii=False)
                       .encode("utf-8"), "application/json")
        elif path == "/events" and self.command == "GET":
            self._events()
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _events(self):
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def send(text: str) -> None:
            self.wfile.write(text.encode("utf-8"))
            self.wfile.flush()
        try:
            self.live.events(send)
        except OSError:   # the page was closed or reloaded
            pass


_CSS = """
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans",
        "Noto Sans CJK SC", sans-serif; color: #111; background: #fff; }
html, body { margin: 0; height: 100%; }
body { display: flex; flex-direction: column; }
#bar { display: flex; gap: 1rem; align-items: baseline; padding: .25rem 1rem;
       border-bottom: 1px solid #999; font-size: .9rem; color: #444; flex: none; }
#bar strong { color: #111; }
#building { margin-left: auto; }
#error { flex: none; margin: .5rem 1rem; padding: .5rem .8rem; border: 3px solid #b00020;
         border-radius: .3rem; background: #fff5f5; max-height: 45vh; overflow: auto; }
#message { margin: 0; font: 1rem/1.35 ui-monospace, "DejaVu Sans Mono", monospace;
           white-space: pre-wrap; color: #111; }
#error p { margin: .4rem 0 0; color: #444; }
#stage { position: relative; flex: 1 1 auto; min-height: 0; }
#stage iframe { position: absolute; inset: 0; width: 100%; height: 100%; border: 0; }
#stage iframe.next { visibility: hidden; }
#stage iframe.dimmed { opacity: .35; filter: grayscale(1); }
#first { padding: 1rem; color: #555; }
"""

# The report is double-buffered: a new one loads in a hidden frame, takes the
# old one's iteration and scroll position, and only then replaces it, so the
# picture never blinks or jumps back to iteration 0 while a class is looking.
_JS = r"""
(function () {
  "use strict";
  var words = JSON.parse(document.getElementById("words").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var stage = $("stage"), error = $("error"), message = $("message"),
      status = $("status"), building = $("building"), first = $("first");
  var shown = 0, loading = 0, lastState = null, whole = {};
  function current() { return stage.querySelector("iframe.current"); }
  function place(state) {
    var old = current();
    if (!state.ok) {
      message.textContent = state.error;
      error.hidden = false;
      if (old) old.classList.add("dimmed");
    } else {
      error.hidden = true;
      if (old) old.classList.remove("dimmed");
    }
    if (state.building) {
      var share = state.total ? Math.floor(100 * state.done / state.total) + "%" : "";
      building.textContent = words.building + " " + share +
        (state.left != null && state.left >= 1 ? " · " + words.left.replace("{t}", Math.round(state.left) + " s") : "");
      building.hidden = false;
    } else {
      building.hidden = true;
    }
    if (state.updated) status.textContent = words.updated.replace("{time}", state.updated);
  }
  function swapIn(page) {
    if (page === shown || page === loading) return;
    loading = page;
    var next = document.createElement("iframe");
    next.className = "next";
    next.title = document.title;
    next.addEventListener("load", function () {
      if (loading !== page) { next.remove(); return; }
      var old = current();
      try {   // keep the viewer where they were: same iteration, same scroll
        var R = next.contentWindow.graphdslReport;
        if (old && R && old.contentWindow.graphdslReport) {
          var was = old.contentWindow.graphdslReport.current();
          var max = +old.contentDocument.getElementById("slider").max;
          R.show(was >= max ? 1e9 : was, false);
          next.contentWindow.scrollTo(0, old.contentWindow.scrollY);
        }
      } catch (e) {}
      next.className = "current";
      if (old) old.remove();
      if (first) { first.remove(); first = null; }
      shown = page; loading = 0;
      document.body.setAttribute("data-page", String(page));
      document.body.setAttribute("data-whole", String(!!whole[page]));
      if (lastState) place(lastState);
      try { next.contentWindow.focus(); } catch (e) {}
    });
    next.src = "/page/" + page;
    stage.appendChild(next);
  }
  function onState(state) {
    lastState = state;
    place(state);
    if (state.page) { whole[state.page] = state.whole; swapIn(state.page); }
    document.body.setAttribute("data-version", String(state.version));
  }
  var source = new EventSource("/events");
  source.onmessage = function (e) { onState(JSON.parse(e.data)); };
  source.onerror = function () {
    if (source.readyState !== EventSource.OPEN) {
      status.textContent = words.lost;
      document.body.setAttribute("data-lost", "true");
    }
  };
  source.onopen = function () { document.body.removeAttribute("data-lost"); };
})();
"""

_SHELL = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-src 'self'; img-src data:">
<meta name="generator" content="graphdsl">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<div id="bar"><strong>{watching}</strong><span id="status" aria-live="polite"></span>
<span id="building" hidden></span></div>
<div id="error" role="alert" hidden><pre id="message"></pre><p>{kept}</p></div>
<div id="stage"><p id="first">{first}</p></div>
<script type="application/json" id="words">{words}</script>
<script>{js}</script>
</body>
</html>
"""
