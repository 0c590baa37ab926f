"""Atomic writes: an interrupted write keeps the old file; paired files move together."""

import os
import signal
from pathlib import Path

import pytest

from forecast.files import write_atomic, write_together


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
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_together([(model, lambda tmp: tmp.write_text("new model")), (meta, fails)])
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
