"""Atomic writes: nothing already saved is lost or half-written, even on Ctrl-C.

Each file is written to a temp file in its own folder and renamed into place; a rename
within one file system is atomic. Files that only make sense together (a model and the
model.json that names its hash) are staged first and renamed together, with Ctrl-C held
back for the microseconds between the renames.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

Writer = Callable[[Path], None]  # writes the whole content to the path it is given


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; set it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temp file beside `path` (same suffix: Keras insists on .keras), removed on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        # mkstemp makes the file private (0600); the result should have the mode a plain write gives.
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C arriving inside is delivered when the block ends, not in the middle of it.

    The Python-level handler is swapped rather than the signal blocked: with other threads
    running (TensorFlow's), a blocked SIGINT would reach one of them and still interrupt us.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only
        return
    received: list[tuple[int, object]] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(*received[0])  # the default handler raises KeyboardInterrupt here


def write_atomic(path: Path, write: Writer) -> None:
    write_together([(Path(path), write)])


def write_together(files: list[tuple[Path, Writer]]) -> None:
    """Writes every file to a temp file first, then renames them all into place.

    Writers run in order, so a later one may use what an earlier one produced (a hash).
    """
    with contextlib.ExitStack() as stack:
        staged: list[tuple[Path, Path]] = []
        for path, write in files:
            tmp = stack.enter_context(_staged(Path(path)))
            write(tmp)
            staged.append((tmp, Path(path)))
        with _interrupts_deferred():
            for tmp, path in staged:
                os.replace(tmp, path)
