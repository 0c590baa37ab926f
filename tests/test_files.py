"""Atomic writes: an interrupted write keeps the old file; paired files move together; a path
that is not a regular file (a symlink, a device, a FIFO, a folder) is never renamed over."""

import os
import signal
import stat
import threading
from pathlib import Path

import pytest

from forecast.errors import SaveError
from forecast.files import replace_folder, write_atomic, write_together
from forecast.jsonio import dumps
from forecast.publish import save_figure


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "BTC-USD.csv"
    path.write_text("old")

    def fails(tmp: Path) -> None:
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, fails)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["BTC-USD.csv"]
    write_atomic(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["BTC-USD.csv"]


def test_write_atomic_creates_the_folder(tmp_path):
    write_atomic(tmp_path / "a" / "b.json", lambda tmp: tmp.write_text("{}"))
    assert (tmp_path / "a" / "b.json").read_text() == "{}"


def test_write_together_keeps_both_old_files_when_the_second_fails(tmp_path):
    model, meta = tmp_path / "model.keras", tmp_path / "model.json"
    model.write_text("old model")
    meta.write_text("old meta")

    def fails(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(SaveError) as info:
        write_together([(model, lambda tmp: tmp.write_text("new model")), (meta, fails)])
    # The user's path and folder, never the temp file's name.
    assert str(info.value) == f"cannot save {meta}: no space left on device in {tmp_path}"
    assert (model.read_text(), meta.read_text()) == ("old model", "old meta")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.keras"]


def test_ctrl_c_between_the_renames_is_delivered_after_both(tmp_path, monkeypatch):
    model, meta = tmp_path / "model.keras", tmp_path / "model.json"
    real_replace = os.replace
    renamed = []

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        renamed.append(Path(dst).name)
        if len(renamed) == 1:  # Ctrl-C right after the first rename
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_together([(model, lambda tmp: tmp.write_text("new model")),
                        (meta, lambda tmp: tmp.write_text("new meta"))])
    assert renamed == ["model.keras", "model.json"]
    assert (model.read_text(), meta.read_text()) == ("new model", "new meta")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.keras"]


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "metrics.json", lambda tmp: tmp.write_text("{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644


@pytest.fixture
def run(tmp_path) -> Path:
    """A saved run folder holding an old model."""
    folder = tmp_path / "gru"
    folder.mkdir()
    (folder / "model.keras").write_text("old")
    return folder


def test_replace_folder_swaps_in_the_new_content(tmp_path, run):
    (run / "stale.png").write_text("old chart")
    replace_folder(run, lambda tmp: (tmp / "model.keras").write_text("new"))
    assert [p.name for p in run.iterdir()] == ["model.keras"] and (run / "model.keras").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["gru"]


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError(13, "Permission denied")])
def test_replace_folder_keeps_the_old_content_when_filling_fails(tmp_path, run, error):

    def fill(tmp: Path) -> None:
        (tmp / "model.keras").write_text("new")
        raise error

    with pytest.raises(KeyboardInterrupt if error is KeyboardInterrupt else SaveError):
        replace_folder(run, fill)
    assert (run / "model.keras").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["gru"]


def test_replace_folder_undoes_the_first_rename_when_the_second_fails(tmp_path, run, monkeypatch):
    real = os.rename

    def rename(src, dst):
        if ".new-" in str(src):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(SaveError, match=f"^cannot save {run}: no space left on device in {tmp_path}$"):
        replace_folder(run, lambda tmp: (tmp / "model.keras").write_text("new"))
    assert (run / "model.keras").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["gru"]


def test_ctrl_c_during_the_swap_is_delivered_after_it(tmp_path, run, monkeypatch):
    real = os.rename

    def rename(src, dst):
        real(src, dst)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between the two renames

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        replace_folder(run, lambda tmp: (tmp / "model.keras").write_text("new"))
    assert (run / "model.keras").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["gru"]


def test_leftovers_of_a_live_process_are_left_alone(tmp_path):
    """Another run writing the same folder right now (this process stands for it)."""
    busy = tmp_path / f".gru.new-{os.getpid()}-abc"
    busy.mkdir()
    replace_folder(tmp_path / "gru", lambda tmp: (tmp / "x").write_text("x"))
    assert busy.is_dir()


# --- paths that are not regular files: written through or followed, never replaced ----------
# No test writes to the machine's /dev/null: as root, a regression would replace it. A null
# device of our own in tmp_path stands for it.

def null_device(path: Path) -> Path:
    """A character device like /dev/null (major 1, minor 3) at `path`."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        path.open("w").close()  # a file system mounted nodev refuses to open it
    except PermissionError:
        pytest.skip("making a device node needs root and a file system that allows devices")
    return path


def is_null_device(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("relative", [False, True])
def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path, relative):
    (tmp_path / "real").mkdir()
    (tmp_path / "out").mkdir()
    target, link = tmp_path / "real" / "metrics.json", tmp_path / "out" / "metrics.json"
    target.write_text("old")
    link.symlink_to("../real/metrics.json" if relative else target)
    write_atomic(link, lambda tmp: tmp.write_text("new"))
    assert link.is_symlink() and os.readlink(link) == ("../real/metrics.json" if relative else str(target))
    assert target.read_text() == "new" and link.read_text() == "new"
    assert (names(tmp_path / "real"), names(tmp_path / "out")) == (["metrics.json"], ["metrics.json"])


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link, target = tmp_path / "latest.json", tmp_path / "runs" / "run1.json"
    target.parent.mkdir()
    link.symlink_to(target)
    write_atomic(link, lambda tmp: tmp.write_text(dumps({"a": 1})))
    assert link.is_symlink() and target.read_text() == '{\n  "a": 1\n}\n'
    assert names(tmp_path) == ["latest.json", "runs"] and names(target.parent) == ["run1.json"]


def test_a_symlink_into_a_missing_folder_is_refused(tmp_path):
    link, target = tmp_path / "latest.json", tmp_path / "gone" / "run1.json"
    link.symlink_to(target)
    with pytest.raises(SaveError) as info:
        write_atomic(link, lambda tmp: tmp.write_text("new"))
    assert str(info.value) == f"cannot save {link}: it links to {target}, in a folder that does not exist"
    assert link.is_symlink() and names(tmp_path) == ["latest.json"]


@pytest.mark.parametrize("through_link", [False, True])
def test_a_folder_where_a_file_should_be_is_one_error(tmp_path, through_link):
    folder = tmp_path / "metrics.json"
    folder.mkdir()
    (folder / "keep").write_text("kept")
    path = tmp_path / "link.json" if through_link else folder
    if through_link:
        path.symlink_to(folder)
    with pytest.raises(SaveError) as info:
        write_atomic(path, lambda tmp: tmp.write_text("new"))
    assert str(info.value) == f"cannot save {path}: {folder} is a folder, not a file"
    assert (folder / "keep").read_text() == "kept" and names(folder) == ["keep"]
    assert names(tmp_path) == (["link.json", "metrics.json"] if through_link else ["metrics.json"])


def test_a_null_device_is_written_through_and_stays_a_device(tmp_path):
    null = null_device(tmp_path / "null")
    written = []
    write_atomic(null, lambda path: written.append(path.write_text("{}")))
    assert written == [2] and is_null_device(null)
    assert names(tmp_path) == ["null"]  # no temp file was made beside it


def test_a_symlink_to_a_null_device_stays_a_link_to_the_device(tmp_path):
    """As `--out` with forecast.png linked to /dev/null: the chart goes into the device, and
    nothing named null.png appears beside it (matplotlib adds .png to a name without one)."""
    null = null_device(tmp_path / "null")
    link = tmp_path / "forecast.png"
    link.symlink_to(null)
    save_figure(link, _figure())
    assert link.is_symlink() and os.readlink(link) == str(null) and is_null_device(null)
    assert names(tmp_path) == ["forecast.png", "null"]


def test_a_symlink_to_a_file_without_a_suffix_gets_what_the_link_name_asks_for(tmp_path):
    target, link = tmp_path / "chart", tmp_path / "forecast.png"
    target.write_text("old")
    link.symlink_to(target)
    save_figure(link, _figure())
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and link.is_symlink()
    assert names(tmp_path) == ["chart", "forecast.png"]


def test_write_together_writes_through_a_device_and_renames_the_rest(tmp_path):
    null = null_device(tmp_path / "comparison.md")
    (tmp_path / "comparison.json").write_text("old")
    write_together([(tmp_path / "comparison.json", lambda tmp: tmp.write_text("new json")),
                    (null, lambda tmp: tmp.write_text("new md")),
                    (tmp_path / "comparison.png", lambda tmp: tmp.write_text("new png"))])
    assert is_null_device(null)
    assert (tmp_path / "comparison.json").read_text() == "new json"
    assert (tmp_path / "comparison.png").read_text() == "new png"
    assert names(tmp_path) == ["comparison.json", "comparison.md", "comparison.png"]


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def _read_in_thread(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    """A reader at the other end of `fifo`, as `python -m forecast ... > fifo` would need."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    return reader, got


@pytest.mark.parametrize("through_link", [False, True])
def test_a_fifo_is_written_through_to_its_reader_and_stays_a_fifo(tmp_path, through_link):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    path = tmp_path / "metrics.json" if through_link else fifo
    if through_link:
        path.symlink_to(fifo)
    reader, got = _read_in_thread(fifo)
    # The writer in a thread too: if a regression stops it opening the FIFO, neither side can hang the suite.
    writer = threading.Thread(target=write_atomic, args=(path, lambda p: p.write_text("hello\n")), daemon=True)
    writer.start()
    writer.join(timeout=20)
    reader.join(timeout=20)
    assert not writer.is_alive() and not reader.is_alive()
    assert got == [b"hello\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert path.is_symlink() == through_link
    assert names(tmp_path) == (["metrics.json", "pipe"] if through_link else ["pipe"])


def test_replace_folder_through_a_symlink_replaces_the_target_folder(tmp_path, run):
    (run / "stale.png").write_text("old chart")
    link = tmp_path / "latest"
    link.symlink_to(run)
    replace_folder(link, lambda tmp: (tmp / "model.keras").write_text("new"))
    assert link.is_symlink() and os.readlink(link) == str(run)
    assert names(run) == ["model.keras"] and (run / "model.keras").read_text() == "new"
    assert names(tmp_path) == ["gru", "latest"]


def test_replace_folder_through_a_dangling_symlink_creates_the_target(tmp_path):
    link, target = tmp_path / "gru", tmp_path / "runs" / "gru-1"
    target.parent.mkdir()
    link.symlink_to(target)
    replace_folder(link, lambda tmp: (tmp / "model.keras").write_text("new"))
    assert link.is_symlink() and (target / "model.keras").read_text() == "new"
    assert names(tmp_path) == ["gru", "runs"] and names(target.parent) == ["gru-1"]


@pytest.mark.parametrize("make", ["file", "fifo", "device", "link to a file"])
def test_replace_folder_refuses_what_is_not_a_folder(tmp_path, make):
    thing = tmp_path / "thing"
    if make == "fifo":
        os.mkfifo(thing)
    elif make == "device":
        null_device(thing)
    else:
        thing.write_text("a file")
    path = thing
    if make == "link to a file":
        path = tmp_path / "gru"
        path.symlink_to(thing)
    before = os.lstat(path)
    with pytest.raises(SaveError) as info:
        replace_folder(path, lambda tmp: (tmp / "model.keras").write_text("new"))
    assert str(info.value) == f"cannot save {path}: {thing} is not a folder"
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)
    assert names(tmp_path) == (["gru", "thing"] if make == "link to a file" else ["thing"])
