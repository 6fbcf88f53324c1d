"""Reading checkpoint files, and small text records (hyperparameter files, reference runs), with bounded memory.

A declared size (a zip member's header, a file's ``stat``) is checked before reading, but never trusted: every read
stops one byte past its limit. A safetensors file is read header first: its JSON header must describe tensors whose
dtypes, shapes and byte ranges agree and tile the data exactly, and only then is the data read, exactly as long as
the header says. The format: 8 bytes little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``, then the data.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple

from iqlzoo.errors import CheckpointError
from iqlzoo.limits import LoadLimits

CHUNK_BYTES = 1 << 20
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
"""Bytes per element of each safetensors dtype iqlzoo reads."""
EOCD = struct.Struct("<4s4H2LH")
"""A zip's end of central directory record: signature, disk numbers, entry counts, directory size and offset,
comment length."""
ZIP64_LOCATOR = struct.Struct("<4sLQL")
"""The ZIP64 locator just before the end record: signature, disk, offset of the ZIP64 end record, disks."""
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
"""The ZIP64 end record just before the locator: signature, size, versions, disks, entry counts, directory size and
offset."""
MAX_ZIP_COMMENT = 0xFFFF


def read_bounded(stream: IO[bytes], limit: int, on_excess: Callable[[], Exception]) -> bytes:
    """All of ``stream``, read in chunks; raises ``on_excess()`` as soon as more than ``limit`` bytes arrive."""
    buffer = bytearray()
    while True:
        chunk = stream.read(min(CHUNK_BYTES, limit + 1 - len(buffer)))
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > limit:
            raise on_excess()


def read_small_text(path: Path, limit: int, on_excess: Callable[[], Exception]) -> str:
    """The UTF-8 text of the file at ``path``, read to at most ``limit + 1`` bytes whatever its ``stat`` says (a file
    that grows between a size check and the read cannot exhaust memory); raises ``on_excess()`` past ``limit``, and
    ``OSError`` / ``UnicodeDecodeError`` as ``open`` and ``bytes.decode`` do."""
    with open(path, "rb") as stream:
        return read_bounded(stream, limit, on_excess).decode("utf-8")


def read_exactly(stream: IO[bytes], size: int, where: str) -> bytes:
    """``size`` bytes of ``stream`` (read in chunks, so a lying ``size`` costs no memory before it is refuted)."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(CHUNK_BYTES, size - len(buffer)))
        if not chunk:
            raise CheckpointError(f"{where} is truncated or corrupt: it ends {size - len(buffer):,} bytes short of "
                                  "what its header announces; re-save or re-download it")
        buffer += chunk
    return bytes(buffer)


def read_json(stream: IO[bytes], declared: int, where: str, limits: LoadLimits) -> bytes:
    """The bytes of a JSON file of ``declared`` size, within ``limits.max_json_bytes``."""
    what = f"the size of {where}"
    limits.check(what, declared, "max_json_bytes")
    excess = f"more than {limits.max_json_bytes:,} bytes (though declared as {declared:,})"
    return read_bounded(stream, limits.max_json_bytes, lambda: limits.exceeded(what, excess, "max_json_bytes"))


def read_safetensors(stream: IO[bytes], declared: int, where: str, limits: LoadLimits) -> bytes:
    """The bytes of a safetensors file of ``declared`` size, checked header first (see the module docstring)."""
    limits.check(f"the size of {where}", declared, "max_tensor_bytes")
    prefix = read_exactly(stream, 8, where)
    header_size = int.from_bytes(prefix, "little")
    limits.check(f"the header size of {where}", header_size, "max_json_bytes")
    header_bytes = read_exactly(stream, header_size, where)
    data_size = check_header(parse_json(header_bytes, f"the header of {where}"), where)
    limits.check(f"the size of {where}", 8 + header_size + data_size, "max_tensor_bytes")
    data = read_exactly(stream, data_size, where)
    if stream.read(1):
        raise CheckpointError(f"{where} has bytes after the {data_size:,} bytes of data its header describes; "
                              "the file is corrupt: re-save or re-download it")
    return prefix + header_bytes + data


class ZipDirectory(NamedTuple):
    """What a zip's end records declare about its central directory."""

    entries: int
    size: int
    zip64: bool


def read_zip_directory(stream: IO[bytes]) -> ZipDirectory:
    """The central directory a zip's end records declare, found as Python's :mod:`zipfile` finds them (so that what
    is checked is what ``zipfile.ZipFile`` will read): the end record is the file's last 22 bytes when they hold one
    without comment, else the last signature within the final 64 KiB; a ZIP64 locator and end record immediately
    before it override its counts. Reads at most 64 KiB + 98 bytes, whatever the file declares.

    Raises:
        zipfile.BadZipFile: no end record (not a zip, or truncated).
    """
    size = stream.seek(0, 2)
    if size < EOCD.size:
        raise zipfile.BadZipFile("File is not a zip file")
    stream.seek(size - EOCD.size)
    tail = stream.read(EOCD.size)
    position = size - EOCD.size
    if not (tail[:4] == zipfile.stringEndArchive and tail[-2:] == b"\0\0"):
        start = max(size - MAX_ZIP_COMMENT - 1 - EOCD.size, 0)
        stream.seek(start)
        tail = stream.read()
        found = tail.rfind(zipfile.stringEndArchive)
        if found < 0 or len(tail) - found < EOCD.size:
            raise zipfile.BadZipFile("File is not a zip file")
        tail, position = tail[found : found + EOCD.size], start + found
    _, _, _, on_disk, total, directory_size, _, _ = EOCD.unpack(tail)
    zip64 = _read_zip64(stream, position)
    if zip64 is not None:
        return ZipDirectory(max(zip64[0], zip64[1]), zip64[2], True)
    return ZipDirectory(max(on_disk, total), directory_size, False)


def _read_zip64(stream: IO[bytes], end_record: int) -> tuple[int, int, int] | None:
    """(entries on this disk, entries in all, directory size) from the ZIP64 records before ``end_record``, if any."""
    start = end_record - ZIP64_LOCATOR.size - ZIP64_EOCD.size
    if start < 0:
        return None
    stream.seek(start)
    data = stream.read(ZIP64_EOCD.size + ZIP64_LOCATOR.size)
    if len(data) != ZIP64_EOCD.size + ZIP64_LOCATOR.size:
        return None
    if ZIP64_LOCATOR.unpack(data[ZIP64_EOCD.size :])[0] != zipfile.stringEndArchive64Locator:
        return None
    record = ZIP64_EOCD.unpack(data[: ZIP64_EOCD.size])
    if record[0] != zipfile.stringEndArchive64:
        return None
    return record[6], record[7], record[8]


def check_zip_directory(stream: IO[bytes], where: str, limits: LoadLimits) -> None:
    """Refuse a zip whose central directory declares more entries or bytes than ``limits`` allow, before
    :mod:`zipfile` reads and parses the whole directory (which costs time and memory in proportion to it)."""
    directory = read_zip_directory(stream)
    kind = "ZIP64 " if directory.zip64 else ""
    limits.check(f"the number of entries that the {kind}central directory of {where} declares", directory.entries,
                 "max_zip_entries")
    limits.check(f"the size of the {kind}central directory of {where}", directory.size, "max_zip_directory_bytes")
    stream.seek(0)


def parse_json(data: bytes, where: str) -> Any:
    """``data`` decoded as UTF-8 JSON, or a :class:`CheckpointError` saying why it is not."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{where} is not UTF-8 text ({exc}); the file is corrupt") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digit limits, absurd nesting
        raise CheckpointError(f"{where} is not valid JSON ({exc}); the file is corrupt") from None


def check_header(header: Any, where: str) -> int:
    """The data length that the safetensors ``header`` describes, after checking that every tensor's dtype and shape
    agree with its byte range and that the ranges tile [0, length) without gaps or overlaps."""

    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"{where} has a malformed header: {problem}; the file is corrupt or not written by "
                               "safetensors: re-save or re-download it")

    if not isinstance(header, dict):
        raise fail(f"a JSON {type(header).__name__} instead of an object")
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise fail("__metadata__ must map names to strings")
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise fail(f"tensor {name!r} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_BYTES:
            raise fail(f"tensor {name!r} has dtype {dtype!r}; known: {sorted(DTYPE_BYTES)}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise fail(f"tensor {name!r} has shape {shape!r}, not a list of non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets):
            raise fail(f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
        begin, end = offsets
        needed = math.prod(shape) * DTYPE_BYTES[dtype]
        if end - begin != needed:
            raise fail(f"tensor {name!r} of shape {shape} and dtype {dtype} needs {needed:,} bytes, but its "
                       f"data_offsets {offsets} span {end - begin:,}")
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise fail(f"tensor {name!r} starts at byte {begin:,} where the data before it ends at {position:,} "
                       "(overlapping or missing data)")
        position = end
    return position


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
