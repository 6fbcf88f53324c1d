"""Durable atomic writes: fsync before the rename and of the folder after it, cleanup after killed writers, and
disk-full errors that name the file."""

import errno
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.store import atomic_write_text
from iqlzoo.atomic import HOST_TAG, STALE_AFTER_S
from iqlzoo.checkpoint import Checkpoint, save_checkpoint


def tiny_checkpoint() -> Checkpoint:
    import torch

    return Checkpoint(config={"agent_class": "IQL"}, tensors={"w": torch.ones(2)})


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def write_status(folder: Path) -> Path:
    atomic_write_text(folder / "status.json", "{}")
    return folder / "status.json"


SAVES = {
    "checkpoint zip": lambda folder: save_checkpoint(folder / "agent.zip", tiny_checkpoint()),
    "checkpoint folder": lambda folder: save_checkpoint(folder / "agent", tiny_checkpoint()),
    "results store file": write_status,
}


@pytest.mark.parametrize("kind", sorted(SAVES))
def test_a_save_fsyncs_the_data_before_the_rename_and_the_folder_after_it(tmp_path, monkeypatch, kind):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + ("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(f"replace -> {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    SAVES[kind](tmp_path)  # a first save, then one that replaces it
    events.clear()
    target = SAVES[kind](tmp_path).name
    final = events.index(f"replace -> {target}")
    assert "fsync file" in events[:final]
    assert "fsync folder" in events[final + 1 :]


@pytest.mark.parametrize("kind", sorted(SAVES))
def test_a_full_disk_names_the_path_and_keeps_the_old_content(tmp_path, monkeypatch, kind):
    path = SAVES[kind](tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as info:
        SAVES[kind](tmp_path)
    assert info.value.errno == errno.ENOSPC and str(path) in str(info.value)
    assert path.exists() and sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_save_removes_what_killed_saves_left_and_nothing_else(tmp_path):
    gone, alive, old = dead_pid(), os.getpid(), time.time() - 2 * STALE_AFTER_S
    leftovers = {
        f".agent.zip.{HOST_TAG}-{gone}-0a1b2c3d.tmp": "file",  # its writer was killed
        f".agent.{HOST_TAG}-{gone}-0a1b2c3d.tmp": "folder",  # a folder checkpoint being written
        f".agent.{HOST_TAG}-{gone}-4e5f6a7b.old": "folder",  # the previous folder on its way out
        f".agent.zip.{'f' * 8}-{alive}-0a1b2c3d.tmp": "old file",  # another host's, abandoned long ago
        ".agent.zip.k2j4_x9q.tmp": "old file",  # named by an earlier iqlzoo, abandoned long ago
    }
    kept = {
        f".other.zip.{HOST_TAG}-{alive}-0a1b2c3d.tmp": "file",  # a concurrent save in progress
        f".agent.zip.{'f' * 8}-{gone}-0a1b2c3d.tmp": "file",  # another host's pid says nothing here: too recent
        ".agent.zip.k2j4_x9q.old": "file",  # an earlier iqlzoo's name, but recent
        ".notes.tmp": "old file",  # not ours
        "keep.zip": "file",
    }
    for name, what in {**leftovers, **kept}.items():
        if what == "folder":
            (tmp_path / name).mkdir()
            (tmp_path / name / "model.safetensors").write_bytes(b"partial")
        else:
            (tmp_path / name).write_bytes(b"partial")
            if what == "old file":
                os.utime(tmp_path / name, (old, old))
    save_checkpoint(tmp_path / "agent.zip", tiny_checkpoint())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "agent.zip"])
