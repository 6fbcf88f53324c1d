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


def zip_of_empty_entries(path: Path, names: list[str]) -> Path:
    """A valid stored zip of empty members named ``names``, assembled with ``struct`` (zipfile takes minutes to write
    hundreds of thousands of entries)."""
    local, central = bytearray(), bytearray()
    for name in names:
        encoded = name.encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(encoded), 0, 0, 0, 0,
                               0, len(local)) + encoded
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(encoded), 0) + encoded
    count = min(len(names), 0xFFFF)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def test_a_zip_of_200000_entries_is_refused_before_its_directory_is_parsed(tmp_path):
    path = zip_of_empty_entries(tmp_path / "many.zip", [f"{i:06d}" for i in range(200_000)])
    assert len(zipfile.ZipFile(path).namelist()) == 200_000  # a real zip, which zipfile would parse whole
    error = refused_fast_and_small(lambda: IQL.load(path, device="cpu"), "central directory of .*many.zip declares")
    assert "max_zip_entries=64" in str(error) and "IQLZOO_MAX_ZIP_ENTRIES" in str(error)


def test_a_zip64_end_record_claiming_a_million_entries_is_refused(saved_iql_files, tmp_path):
    path = tmp_path / "agent.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in saved_iql_files.items():
            zf.writestr(name, data)
    raw = path.read_bytes()
    end = raw.rindex(b"PK\x05\x06")
    directory_size, directory_offset = struct.unpack_from("<2L", raw, end + 12)
    zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 10**6, 10**6, directory_size, directory_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    record = bytearray(raw[end:])
    struct.pack_into("<2H", record, 8, 0xFFFF, 0xFFFF)
    path.write_bytes(raw[:end] + zip64 + locator + bytes(record))
    refused_fast_and_small(lambda: IQL.load(path, device="cpu"), "ZIP64 central directory .* is 1,000,000")


def test_an_oversized_central_directory_is_refused_and_a_normal_zip_loads(saved_iql_files, tmp_path):
    path = tmp_path / "agent.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in saved_iql_files.items():
            zf.writestr(name, data)
        for index in range(20):  # few entries, but names of 60 KB: a 1.2 MB directory
            zf.writestr(f"{index:02d}" + "x" * 60_000, b"")
    many = LoadLimits(max_zip_entries=100)
    refused_fast_and_small(lambda: IQL.load(path, device="cpu", limits=many), "max_zip_directory_bytes=1,048,576")
    assert IQL.load(path, device="cpu", limits=LoadLimits(max_zip_entries=100, max_zip_directory_bytes=2 * MiB))
    normal = tmp_path / "normal.zip"
    with zipfile.ZipFile(normal, "w") as zf:
        for name, data in saved_iql_files.items():
            zf.writestr(name, data)
    assert IQL.load(normal, device="cpu").num_timesteps == 0
    with pytest.raises(CheckpointError, match="max_zip_entries=2"):
        IQL.load(normal, device="cpu", limits=LoadLimits(max_zip_entries=2))


def test_a_zip_without_an_end_record_is_not_a_zip(saved_iql_files, tmp_path):
    path = tmp_path / "agent.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(CheckpointError, match="not a readable zip archive"):
        IQL.load(path, device="cpu")
