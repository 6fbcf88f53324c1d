"""Durable atomic writes: fsync before the rename and of the folder after it, cleanup after killed writers, and
disk-full errors that name the file."""

import errno
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from benchmarks.reference_iql import save_curve, save_resume_state
from benchmarks.runner import _link_latest
from benchmarks.store import atomic_write_text
from iqlzoo.atomic import HOST_TAG, STALE_AFTER_S, file_lock
from iqlzoo.checkpoint import Checkpoint, save_checkpoint
from iqlzoo.hub import write_model_card


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


def link_latest(folder: Path) -> Path:
    """The harness's ``latest.zip``, linked to a checkpoint in a subfolder (written once, by the first call)."""
    source = folder / "checkpoints" / "step_0000001.zip"
    if not source.exists():
        save_checkpoint(source, tiny_checkpoint())
    _link_latest(source, folder / "latest.zip")
    return folder / "latest.zip"


def reference_resume_state(folder: Path) -> Path:
    import torch

    return save_resume_state(folder / "seed0.pt", {"w": torch.ones(2)}, [{"step": 1, "mean_return": 0.5}])


SAVES = {
    "checkpoint zip": lambda folder: save_checkpoint(folder / "agent.zip", tiny_checkpoint()),
    "checkpoint folder": lambda folder: save_checkpoint(folder / "agent", tiny_checkpoint()),
    "results store file": write_status,
    "harness latest.zip": link_latest,
    "model card": lambda folder: write_model_card(folder, ModelCard("---\nlicense: mit\n---\n# A card\n")),
    "reference IQL curve": lambda folder: save_curve(folder / "seed0.csv", [{"step": 1, "mean_return": 0.5}]),
    "reference IQL resume state": reference_resume_state,
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


def test_the_harness_latest_link_names_the_checkpoint_and_a_copy_replaces_a_link_where_links_fail(tmp_path,
                                                                                                monkeypatch):
    latest = link_latest(tmp_path)
    source = tmp_path / "checkpoints" / "step_0000001.zip"
    assert os.path.samefile(latest, source)

    def no_links(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "hard links unsupported")

    monkeypatch.setattr(os, "link", no_links)
    link_latest(tmp_path)
    assert latest.read_bytes() == source.read_bytes() and not os.path.samefile(latest, source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "latest.zip"]


def test_the_reference_iql_files_round_trip(tmp_path):
    import torch

    curve = [{"step": 1, "mean_return": 0.5}, {"step": 2, "mean_return": 0.75}]
    assert save_curve(tmp_path / "seed0.csv", curve).read_text().splitlines() == ["step,mean_return", "1,0.5",
                                                                                  "2,0.75"]
    state = torch.load(save_resume_state(tmp_path / "seed0.pt", {"w": torch.ones(2)}, curve), weights_only=True)
    assert torch.equal(state["agent"]["w"], torch.ones(2)) and state["curve"] == json.dumps(curve)


def test_a_file_lock_excludes_a_second_holder_until_released_and_a_dead_holder_leaves_none(tmp_path):
    lock = tmp_path / "sub" / "x.lock"
    with file_lock(lock) as first:
        assert first
        with file_lock(lock, wait_s=0.3) as second:  # another open file description: flock conflicts
            assert not second
    with file_lock(lock, wait_s=0.0) as again:
        assert again
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time\nfrom iqlzoo.atomic import file_lock\n"
         f"with file_lock({str(lock)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with file_lock(lock, wait_s=0.3) as while_alive:
        assert not while_alive
    holder.kill()
    holder.wait()
    with file_lock(lock, wait_s=5.0) as after_kill:
        assert after_kill
