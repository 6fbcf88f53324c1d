"""Loading is bounded: zip bombs, huge files and configs describing huge networks fail fast, naming the limit."""

import json
import resource
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from iqlzoo import IQL, CheckpointError
from iqlzoo.limits import GiB, LoadLimits, MiB

BOUND_BYTES = 256 * MiB
"""The most a refused load may add to the process's peak memory."""


def zero_deflate(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 1 MiB), built in milliseconds: after a full flush
    a compressor starts afresh, so each further MiB of zeros compresses to the same ~1 KB block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (size // MiB) + compressor.flush()


def write_zip_bomb(path: Path, members: dict[str, bytes], bomb: str, size: int) -> Path:
    """A zip holding ``members`` and a member ``bomb`` that inflates to ``size`` (< 4 GiB) zero bytes.

    The deflate stream is stored as is, then the member's method and uncompressed size are patched in its local and
    central headers (its CRC is left wrong: a reader that inflates it all fails only at the end)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(bomb, zero_deflate(size))
        offset = zf.getinfo(bomb).header_offset
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"PK\x01\x02")  # the bomb is the last member
    struct.pack_into("<H", raw, offset + 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", raw, offset + 22, size)
    struct.pack_into("<H", raw, central + 10, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", raw, central + 24, size)
    path.write_bytes(bytes(raw))
    return path


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def refused_fast_and_small(load, match: str) -> CheckpointError:
    """Run ``load()``; it must raise a CheckpointError matching ``match`` within 2 s of CPU time (wall time would
    depend on the machine's load) and add less than 256 MiB to the peak memory."""
    before, start = peak_rss_bytes(), time.process_time()
    with pytest.raises(CheckpointError, match=match) as info:
        load()
    assert time.process_time() - start < 2.0
    assert peak_rss_bytes() - before < BOUND_BYTES
    return info.value


@pytest.mark.parametrize("bomb", ["model.safetensors", "config.json"])
def test_a_zip_bomb_is_refused_from_its_declared_size(saved_iql_files, tmp_path, bomb):
    members = {name: data for name, data in saved_iql_files.items() if name != bomb}
    path = write_zip_bomb(tmp_path / "bomb.zip", members, bomb, 3 * GiB)
    assert path.stat().st_size < 4 * MiB
    limit = "max_tensor_bytes" if bomb.endswith(".safetensors") else "max_json_bytes"
    error = refused_fast_and_small(lambda: IQL.load(path, device="cpu"), f"{bomb} is 3,221,225,472, over .*{limit}")
    assert f"IQLZOO_{limit.upper()}" in str(error) and "LoadLimits(" in str(error)


def test_a_zip_bomb_under_the_size_limit_is_refused_by_its_ratio_then_by_its_header(saved_iql_files, tmp_path):
    members = {name: data for name, data in saved_iql_files.items() if name != "model.safetensors"}
    path = write_zip_bomb(tmp_path / "bomb.zip", members, "model.safetensors", 512 * MiB)
    refused_fast_and_small(lambda: IQL.load(path, device="cpu"), "compression ratio .* max_compression_ratio=100")
    # with the ratio limit lifted, the header (all zeros: an empty one) is refused before any data is read
    lifted = LoadLimits(max_compression_ratio=10**6)
    refused_fast_and_small(lambda: IQL.load(path, device="cpu", limits=lifted), "model.safetensors .*JSON")


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "state.json"])
def test_a_huge_file_in_a_checkpoint_folder_is_refused_unread(saved_iql_files, tmp_path, name):
    folder = tmp_path / "agent"
    folder.mkdir()
    for member, data in saved_iql_files.items():
        (folder / member).write_bytes(data)
    with open(folder / name, "r+b") as handle:
        handle.truncate(3 * GiB)  # sparse: no disk space, but reading it would take 3 GiB of memory
    refused_fast_and_small(lambda: IQL.load(folder, device="cpu"), f"{name} is 3,221,225,472, over the load limit")


def test_a_safetensors_header_that_overstates_its_tensors_is_refused_before_the_data(saved_iql_files, tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}}).encode()
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "config.json").write_bytes(saved_iql_files["config.json"])
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(64))
    refused_fast_and_small(lambda: IQL.load(folder, device="cpu"), "is 4,398,046,511,[0-9,]+, over .*max_tensor_bytes")


def edit_config(saved_iql_files: dict[str, bytes], folder: Path, **changes) -> Path:
    folder.mkdir()
    for member, data in saved_iql_files.items():
        (folder / member).write_bytes(data)
    config = json.loads(saved_iql_files["config.json"])
    config["config"].update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    "changes", [{"actor_hidden": [65536, 65536]}, {"n_critics": 10**6}, {"critic_hidden": [2**40, 2**40]}]
)
def test_a_config_describing_huge_networks_is_refused_before_allocation(saved_iql_files, tmp_path, changes):
    folder = edit_config(saved_iql_files, tmp_path / "agent", **changes)
    error = refused_fast_and_small(lambda: IQL.load(folder, device="cpu"), "network parameters .* max_parameters=")
    assert "IQLZOO_MAX_PARAMETERS" in str(error)


def test_a_config_of_absurdly_deep_networks_is_refused(saved_iql_files, tmp_path):
    folder = edit_config(saved_iql_files, tmp_path / "agent", value_hidden=[4] * 1000)
    refused_fast_and_small(lambda: IQL.load(folder, device="cpu"), "hidden layers in config.value_hidden is 1,000")


def test_limits_are_raised_or_lowered_by_argument_or_environment(saved_iql_files, tmp_path, monkeypatch):
    folder = edit_config(saved_iql_files, tmp_path / "agent")
    assert IQL.load(folder, device="cpu").num_timesteps == 0
    with pytest.raises(CheckpointError, match="max_parameters=1,000"):
        IQL.load(folder, device="cpu", limits=LoadLimits(max_parameters=1000))
    monkeypatch.setenv("IQLZOO_MAX_PARAMETERS", "1000")
    with pytest.raises(CheckpointError, match="max_parameters=1,000"):
        IQL.load(folder, device="cpu")
    assert IQL.load(folder, device="cpu", limits=LoadLimits(max_parameters=10**6)).num_timesteps == 0
    monkeypatch.setenv("IQLZOO_MAX_PARAMETERS", "lots")
    with pytest.raises(ValueError, match="IQLZOO_MAX_PARAMETERS='lots' must be a positive integer"):
        LoadLimits()
