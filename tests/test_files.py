"""Atomic writes: an interrupted write keeps the old file; paired files move together."""

import os
import signal
from pathlib import Path

import pytest

from forecast.errors import SaveError
from forecast.files import replace_folder, write_atomic, write_together


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
