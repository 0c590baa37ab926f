"""Atomic writes: nothing already saved is lost or half-written, even on Ctrl-C or a full disk.

A file is written to a temp file in its own folder and renamed into place; a rename within
one file system is atomic. A run of several files (a model, its model.json, metrics, charts)
is built in a sibling temp folder and swapped in by renames, the previous folder kept until
the new one is in place. Temp names carry the writer's process id, so leftovers of a killed
run are recognised and removed by the next one, and never those of a run still going.

A rename replaces whatever has the name, so a path that is not a regular file is never renamed
over: a symlink is followed and its target written (the link stays), a character device or FIFO
(/dev/null, a pipe to another program) is written straight through, and anything else (a folder
where a file should be, a block device, a socket) is one SaveError.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import SaveError

Writer = Callable[[Path], None]  # writes the whole content to the path it is given


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; set it straight back
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _prefix(path: Path, kind: str) -> str:
    return f".{path.name}.{kind}-"


def _leftovers(path: Path, kind: str) -> list[Path]:
    """Temp files or folders of `kind` for `path` whose writing process has ended."""
    found = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in path.parent.iterdir():
            rest = entry.name.removeprefix(_prefix(path, kind))
            pid = rest.split("-", 1)[0]
            if rest != entry.name and pid.isdigit() and not _alive(int(pid)):
                found.append(entry)
    return found


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_leftovers(path: Path) -> None:
    """Undoes what a killed writer of `path` left: its temp files and half-built folders go, and
    a previous folder moved aside in the instant before the swap is put back if nothing replaced it."""
    path = Path(path)
    for entry in _leftovers(path, "tmp") + _leftovers(path, "new"):
        _remove(entry)
    for old in sorted(_leftovers(path, "old"), key=lambda p: p.stat().st_mtime):
        if not path.exists():
            os.rename(old, path)
        else:
            _remove(old)


def _make_folder(folder: Path, target: Path) -> None:
    """mkdir -p, with a message that says which part of the path is a file."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                raise SaveError(f"cannot save {target}: {part} is a file, not a folder")
            break
    folder.mkdir(parents=True, exist_ok=True)


def _followed(path: Path) -> Path:
    """`path`, or if it is a symlink the file or folder it leads to: that is what gets replaced,
    never the link. A link into a folder that does not exist is refused, not followed by mkdir."""
    if not path.is_symlink():
        return path
    real = Path(os.path.realpath(path))
    if not real.parent.is_dir():
        raise SaveError(f"cannot save {path}: it links to {real}, in a folder that does not exist")
    return real


def _kind(path: Path) -> str | None:
    """What is at `path` now: "file", "folder", "stream" (character device or FIFO), "other" or None."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None  # nothing there yet; a file where a folder should be is _make_folder's message
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return "stream"
    return "other"


def _destination(path: Path) -> tuple[Path, bool]:
    """Where writing the file `path` goes, and whether straight through (no temp file, no rename:
    a device or FIFO must stay what it is)."""
    real = _followed(path)
    kind = _kind(real)
    if kind == "folder":
        raise SaveError(f"cannot save {path}: {real} is a folder, not a file")
    if kind == "other":
        raise SaveError(f"cannot save {path}: {real} is not a regular file, character device or FIFO")
    return real, kind == "stream"


@contextlib.contextmanager
def _user_paths(path: Path) -> Iterator[None]:
    """An OS error while saving names the user's path, never a temp file's."""
    try:
        yield
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise SaveError(f"cannot save {path}: no space left on device in {path.parent}") from None
        raise SaveError(f"cannot save {path}: {e.strerror or e}") from None


@contextlib.contextmanager
def _staged(path: Path, suffix: str) -> Iterator[Path]:
    """A temp file beside `path` ending in `suffix`, the user's (Keras insists on .keras, matplotlib
    adds .png to a name without one), removed on any failure."""
    _make_folder(path.parent, path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_prefix(path, 'tmp')}{os.getpid()}-", suffix=suffix)
    os.close(fd)
    try:
        # mkstemp makes the file private (0600); the result should have the mode a plain write gives.
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
    except BaseException:
        _remove(Path(tmp))
        raise


@contextlib.contextmanager
def _through(path: Path, real: Path) -> Iterator[Path]:
    """A name for the device or FIFO `real` that ends like the user's `path`: a writer that reads the
    format from the name (matplotlib adds ".png" to a name without one) must write into `real`,
    never make a file beside it (/dev/null.png)."""
    with tempfile.TemporaryDirectory(prefix="forecast-") as folder:
        alias = Path(folder) / path.name
        alias.symlink_to(real)
        yield alias


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
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

    Writers run in order, so a later one may use what an earlier one produced (a hash). A symlink
    is replaced by way of its target; a device or FIFO is written straight through, in order
    (there is nothing in it to keep).
    """
    with contextlib.ExitStack() as stack:
        staged: list[tuple[Path, Path, Path]] = []  # temp file, where it goes, the user's path
        for path, write in files:
            path = Path(path)
            with _user_paths(path):
                real, through = _destination(path)
                if through:
                    with _through(path, real) as alias:
                        write(alias)
                    continue
                clean_leftovers(real)
                tmp = stack.enter_context(_staged(real, path.suffix))
                write(tmp)
            staged.append((tmp, real, path))
        with interrupts_deferred():
            for tmp, real, path in staged:
                with _user_paths(path):
                    os.replace(tmp, real)


def replace_folder(folder: Path, fill: Writer) -> None:
    """Fills a new temp folder beside `folder`, then swaps it in: on any failure, Ctrl-C or a
    kill, `folder` is exactly what it was before; on success, exactly what `fill` made. A symlink
    to a folder stays a link: the folder it leads to is the one replaced."""
    given = Path(folder)
    with _user_paths(given):
        folder = _followed(given)
        if _kind(folder) not in (None, "folder"):  # a rename would replace a file, device or FIFO
            raise SaveError(f"cannot save {given}: {folder} is not a folder")
        _make_folder(folder.parent, folder)
        clean_leftovers(folder)
        staged = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f"{_prefix(folder, 'new')}{os.getpid()}-"))
    try:
        os.chmod(staged, 0o777 & ~_umask())
        with _user_paths(folder):
            fill(staged)
        old = folder.parent / f"{_prefix(folder, 'old')}{os.getpid()}-{staged.name.rsplit('-', 1)[-1]}"
        with interrupts_deferred(), _user_paths(folder):
            # Two renames: a directory cannot be renamed over a non-empty one. A kill between
            # them leaves the previous run aside as `old`, which clean_leftovers puts back.
            moved = folder.exists()
            if moved:
                os.rename(folder, old)
            try:
                os.rename(staged, folder)
            except BaseException:
                if moved:
                    os.rename(old, folder)
                raise
            if moved:
                _remove(old)  # still inside: a Ctrl-C now must not leave the old run lying beside
    except BaseException:
        _remove(staged)
        raise
