"""Atomic, durable replacement of files and folders, and cleanup after writers that were killed.

A writer puts the new content under a hidden temporary name in the destination's folder, flushes it to disk
(``os.fsync``), moves it over the destination with ``os.replace`` and flushes the folder, so that after a crash or a
power loss the path holds either its old or its complete new content, never a mix, and the rename itself is on disk.

Temporary names record their writer: ``.<name>.<host>-<pid>-<random>.tmp`` (``.old`` for a replaced folder on its
way out). A writer killed mid-save leaves such an entry behind; the next save into the same folder removes it once
its writer is gone (same host, process no longer running) or, for writers on other hosts, once it is older than
:data:`STALE_AFTER_S`. Entries of live writers are left alone, so concurrent saves never disturb each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

STALE_AFTER_S = 3600.0
"""Age after which a temporary entry counts as abandoned even when its writer cannot be proven gone."""
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_OURS = re.compile(r"\.(?P<target>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}\.(?:tmp|old)")
_LEGACY_SUFFIX = re.compile(r"[a-z0-9_]{8}\.(?:tmp|old)")  # tempfile.mkstemp/mkdtemp names of iqlzoo < 0.2


def temporary_name(target: str, kind: str = "tmp") -> str:
    """A fresh hidden name next to ``target`` for this process's in-progress write (``kind``: tmp or old)."""
    return f".{target}.{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}.{kind}"


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename or a new file in it) to disk; a no-op where folders cannot be opened."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _writer_gone(host: str, pid: int) -> bool:
    if host != HOST_TAG:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def remove_stale_temporaries(folder: Path, target: str | None = None, now: float | None = None) -> list[Path]:
    """Remove the temporary entries of writers that are gone (see the module docstring); return what was removed.

    ``target``: also remove abandoned temporaries of that destination named as iqlzoo < 0.2 named them
    (``.<target>.<8 random characters>.tmp``), once they are older than :data:`STALE_AFTER_S`.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith("."):
            continue
        ours = _OURS.fullmatch(entry.name)
        legacy = target is not None and entry.name.startswith(f".{target}.") and _LEGACY_SUFFIX.fullmatch(
            entry.name[len(target) + 2 :]
        )
        if not (ours or legacy):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        if age < STALE_AFTER_S and not (ours and _writer_gone(ours["host"], int(ours["pid"]))):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _with_path(exc: OSError, path: Path) -> OSError:
    """``exc`` restated to name the destination ``path`` (a full disk's ENOSPC names no file by itself)."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror, str(path))


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A fresh temporary path next to ``path`` for the block to create; once the block completes, it is moved over
    ``path`` and the folder flushed. If anything fails, the temporary is removed, ``path`` untouched, and an
    ``OSError`` re-raised naming ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / temporary_name(path.name)
    try:
        yield tmp
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _with_path(exc, path) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    remove_stale_temporaries(path.parent, path.name)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object], mode: int | None = None) -> Path:
    """Replace ``path`` with what ``write(file)`` writes, atomically and durably (see the module docstring).

    ``mode``: the file's permissions (default: 0o666 less the umask, as ``open`` creates files). If ``write``
    raises, ``path`` is untouched and the temporary file removed; an ``OSError`` (e.g. ENOSPC, disk full) is
    re-raised naming ``path``.
    """
    path = Path(path)
    with _replacing(path) as tmp:
        with open(tmp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    return path


def atomic_link(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Make ``path`` a hard link to the file ``source`` (a copy where the file system has no hard links), atomically
    and durably: ``path`` holds its old content until it names the complete new one (see the module docstring)."""
    source, path = Path(source), Path(path)
    with _replacing(path) as tmp:
        try:
            os.link(source, tmp)
        except OSError:
            if not source.is_file():
                raise
            shutil.copyfile(source, tmp)
        _fsync_file(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, mode: int | None = None) -> Path:
    """Replace ``path`` with ``text`` encoded as UTF-8, atomically and durably (see :func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> Path:
    """Replace ``path`` with ``data`` atomically and durably (see :func:`atomic_write`)."""
    return atomic_write(path, lambda handle: handle.write(data), mode)


def atomic_write_folder(path: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Replace the folder ``path`` with one holding exactly ``files`` (name → content), atomically and durably.

    The files are written and flushed to disk in a temporary folder, which then takes the place of ``path``. An
    existing folder at ``path`` is first renamed aside and deleted once the new one is in place (put back if that
    fails), so a crash leaves ``path`` holding the old or the new folder (or, in the instant between the two renames,
    the old one under a ``.old`` name), plus hidden entries that the next save into the folder removes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder; choose another path")
    tmp = path.parent / temporary_name(path.name)
    old = path.parent / temporary_name(path.name, "old")
    moved_aside = False
    try:
        tmp.mkdir()
        for name, data in files.items():
            with open(tmp / name, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        fsync_dir(tmp)
        if path.exists():
            os.replace(path, old)
            moved_aside = True
        try:
            os.replace(tmp, path)
        except BaseException:
            if moved_aside:
                os.replace(old, path)
                moved_aside = False
            raise
        fsync_dir(path.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _with_path(exc, path) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if moved_aside:
            shutil.rmtree(old, ignore_errors=True)
    remove_stale_temporaries(path.parent, path.name)
    return path


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, wait_s: float | None = None, poll_s: float = 0.2) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) while the block runs.

    ``wait_s=None`` waits for as long as another process holds the lock and yields True; a number waits at most that
    many seconds and yields False if the lock is still held then (the block runs without it and must not write). The
    operating system releases the lock when its holder exits or dies, even by SIGKILL, so a lock never goes stale.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        if wait_s is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(poll_s)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
