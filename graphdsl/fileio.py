"""Output files written whole or not at all.

Everything graphdsl writes (pictures, JSON, HTML) goes through
:func:`write_atomic`: the data goes to a temporary file beside the target,
then one ``os.replace`` puts it in place, so a failure never leaves a
half-written file that looks whole, and an existing file is untouched until
the new one is complete.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> write_atomic(os.path.join(d, "a.txt"), "hello")
>>> open(os.path.join(d, "a.txt")).read()
'hello'
"""

from __future__ import annotations

import os
import tempfile

from .errors import UsageError


def write_atomic(path, data, *, protect=()) -> None:
    """Write ``data`` (str or bytes) to ``path`` atomically.

    ``protect`` lists paths that must never be overwritten (the model file
    itself). Raises :class:`UsageError` when the path is protected, is a
    directory, or its folder cannot be written.
    """
    path = os.fspath(path)
    target = os.path.abspath(path)
    # realpath: a symlink (to the model, or in the way to it) must not get round the guard
    real = os.path.realpath(path)
    for p in protect:
        if p is not None and os.path.realpath(os.fspath(p)) == real:
            raise UsageError(f"refusing to write over the model file {path}",
                             hint="give another output file name")
    if os.path.isdir(target):
        raise UsageError(f"{path} is a directory", hint="give a file name")
    folder = os.path.dirname(target) or "."
    if isinstance(data, str):
        data = data.encode("utf-8")
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
        try:
            mode = os.stat(target).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
