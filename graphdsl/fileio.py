"""Output files written whole or not at all, and never a special file replaced.

Everything graphdsl writes (pictures, JSON, HTML) goes through
:func:`write_atomic`, which decides by what is already at the path, as
``cp`` and ``sort -o`` do:

- nothing, or a regular file: the data goes to a temporary file beside it,
  then one ``os.replace`` puts it in place, so a failure never leaves a
  half-written file that looks whole; a file that is replaced keeps its mode;
- a symlink: the data is written *through* it, to the file it points to (the
  same way, atomically); the link stays a link. A dangling link is refused,
  as ``cp`` refuses it, rather than creating a file where the link points;
- a FIFO or a character device (``/dev/null``, a terminal): the data is
  written into it as a stream, with no rename and no chmod;
- a directory, a socket, a block device: refused with a message.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> write_atomic(os.path.join(d, "a.txt"), "hello")
>>> open(os.path.join(d, "a.txt")).read()
'hello'
"""

from __future__ import annotations

import os
import stat
import tempfile

from .errors import UsageError

_HINT = "give the name of a regular file (or of a FIFO or device to stream into)"


def write_atomic(path, data, *, protect=(), follow: bool = True) -> None:
    """Write ``data`` (str or bytes) to ``path``: atomically for a regular file,
    as a stream into a FIFO or character device, through a symlink to its target.

    ``protect`` lists paths that must never be written (the model file itself);
    a symlink to one counts as the file. ``follow=False`` writes regular files
    only: a symlink or special file at ``path`` is refused (a folder of frames
    whose names graphdsl chose must not send the data elsewhere).

    Raises :class:`UsageError` when the path is protected, is a directory, a
    dangling symlink, a socket or block device, or cannot be written.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); os.symlink("real.txt", os.path.join(d, "link.txt"))
    >>> open(os.path.join(d, "real.txt"), "w").close()
    >>> write_atomic(os.path.join(d, "link.txt"), "through")
    >>> os.path.islink(os.path.join(d, "link.txt")), open(os.path.join(d, "real.txt")).read()
    (True, 'through')
    """
    path = os.fspath(path)
    # realpath: a symlink (to the model, or in the way to it) must not get round the guard
    real = os.path.realpath(path)
    for p in protect:
        if p is not None and os.path.realpath(os.fspath(p)) == real:
            raise UsageError(f"refusing to write over the model file {path}",
                             hint="give another output file name")
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        link = None
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    through = link is not None and stat.S_ISLNK(link.st_mode)
    if through:
        if not follow:
            raise UsageError(f"{path} is a symbolic link; refusing to write through it",
                             hint="remove the link, or give another folder")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise UsageError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist",
                             hint="create the file it points to, or give another output file name"
                             ) from None
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    else:
        st = link
    if st is None or stat.S_ISREG(st.st_mode):
        # through a symlink, the file that is replaced is the one it points to
        _replace(path, real if through else os.path.abspath(path), data, None if st is None else stat.S_IMODE(st.st_mode))
    elif stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a directory", hint="give a file name")
    elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        if not follow:
            raise UsageError(f"{path} is a {_kind(st.st_mode)}, not a regular file",
                             hint="remove it, or give another folder")
        _stream(path, data)
    else:
        raise UsageError(f"refusing to write into {path}: it is a {_kind(st.st_mode)}", hint=_HINT)


def _replace(path: str, target: str, data: bytes, mode: int | None) -> None:
    """Temporary file beside ``target``, then one rename over it."""
    folder = os.path.dirname(target) or "."
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(target), dir=folder)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open()
        # would, or keep the mode of the file it replaces
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def _stream(path: str, data: bytes) -> None:
    """Write into a FIFO or a device: opened as it is (no O_CREAT, no
    truncation, no rename), written in full."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def describe(path) -> str:
    """What is at ``path``, in words: "file", "directory", "FIFO", "character
    device", "block device", "socket", "symbolic link"; "nothing" when nothing is.

    >>> describe("/dev/null")
    'character device'
    """
    try:
        return _kind(os.lstat(path).st_mode)
    except OSError:
        return "nothing"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISSOCK, "socket"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link")):
        if test(mode):
            return name
    return "special file"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_input(path: str, limit: int, *, kind: str, example: str, prefix: str = "") -> bytes:
    """The bytes of an input file (a model, a data file), at most ``limit + 1``
    of them, so a caller knows the limit is exceeded without reading all of a
    huge file or an endless device such as /dev/zero.

    Raises :class:`UsageError` for a missing path, a directory (``kind`` names
    what was expected, ``example`` what to give) or an unreadable file; each
    message starts with ``prefix`` (an option's name, e.g. ``"--data: "``).
    """
    try:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{prefix}no such file: {path}", hint="check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{prefix}{path} is a directory, not a {kind}",
                         hint=f"give {example}") from None
    except OSError as e:
        raise UsageError(f"{prefix}cannot read {path}: {e.strerror or e}") from None


#: byte order marks of the encodings a text file may be in instead of UTF-8
BOMS = ((b"\xff\xfe\x00\x00", "UTF-32 text (little-endian, with a byte order mark)"),
        (b"\x00\x00\xfe\xff", "UTF-32 text (big-endian, with a byte order mark)"),
        (b"\xff\xfe", "UTF-16 text (little-endian, with a byte order mark)"),
        (b"\xfe\xff", "UTF-16 text (big-endian, with a byte order mark)"))


def other_encoding(data: bytes) -> str | None:
    """The encoding ``data`` is in, said in words, when it is a UTF-16 or UTF-32
    text rather than UTF-8; else None.

    A byte order mark says it; without one, UTF-16 text of mostly ASCII has a
    NUL in every other byte, which no UTF-8 text has.

    >>> other_encoding("z = 1".encode("utf-16")), other_encoding(b"z = 1")
    ('UTF-16 text (little-endian, with a byte order mark)', None)
    """
    for bom, name in BOMS:
        if data.startswith(bom):
            return name
    head = data[:8192]
    if len(head) >= 4 and b"\0" in head:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
            return "UTF-16 text (little-endian, without a byte order mark)"
        if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
            return "UTF-16 text (big-endian, without a byte order mark)"
    return None
