"""Serve model repos over the Hugging Face Hub's HTTP API from this machine: stdlib only, for offline use and tests.

:class:`HubServer` answers the read-only subset of the Hub API that ``huggingface_hub`` (checked against 2.4.0) uses to
resolve revisions, list trees and download files, so ``hf_hub_download``, ``snapshot_download`` and therefore
``IQL.load_from_hub`` work unchanged against it once ``HF_ENDPOINT`` (or ``endpoint=``) points at it::

    GET  /api/models/{repo}[/revision/{rev}]        repo info: commit id and files ("siblings")
    GET  /api/models/{repo}/tree/{rev}[/{folder}]    file listing (``?recursive=true``)
    HEAD/GET /{repo}/resolve/{rev}/{path}            file bytes with ETag and X-Repo-Commit
    POST /api/validate-yaml                          card check (warns only about a missing YAML header)

:class:`ZooServer` serves the repo folders written by ``python -m benchmarks.publish`` (``zoo/{org}/{name}/``) as
they are on disk, one commit per repo, and refuses every write; ``python -m iqlzoo.serve_zoo`` runs it. A writable
server (repo creation and uploads) for tests subclasses :class:`HubServer` and handles writes in
:meth:`HubServer.write_route`.

Errors carry the ``X-Error-Code`` header the real Hub sends (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``), so the client raises its usual exceptions. Requests are appended to :attr:`HubServer.requests`
(unless ``record_requests=False``); requests to routes the server does not implement also go to
:attr:`HubServer.unhandled`, so a test can tell a missing route from a genuine 404.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from iqlzoo.zoo import DEFAULT_HOST

DEFAULT_BRANCH = "main"

#: (HTTP status, JSON payload or a file to send, extra headers)
Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class RequestRecord:
    """One request received by the server."""

    method: str
    path: str  # URL path, percent-decoded, without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    status: int = 0


@dataclass
class Commit:
    """One commit of a served repo: its id, parent, message, files (path -> git blob id) and date."""

    oid: str
    parent: str | None
    message: str
    files: dict[str, str]
    date: str


@dataclass
class Repo:
    """A served model repo: branches (name -> commit id) and commits (id -> :class:`Commit`)."""

    repo_id: str
    private: bool
    created: str
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        """The commit a branch name or full commit id points to, or None."""
        return self.commits.get(self.branches.get(revision, revision))


class HubError(Exception):
    """An error answer: HTTP status, message and the Hub's ``X-Error-Code`` (if the real Hub sends one)."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


class Unhandled(Exception):
    """No route matches the request."""


def now_iso() -> str:
    """The current UTC time as the Hub writes it, e.g. ``2026-12-02T06:10:50.123Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_id(data: bytes) -> str:
    """The git blob id of ``data``: SHA-1 of ``b"blob <size>\\0" + data`` (what the Hub reports as a file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubServer:
    """A read-only Hub-compatible HTTP server; repos live in :attr:`repos` and file bytes in files on disk.

    Args:
        host: address to bind (``127.0.0.1``: this machine only).
        port: port to bind; 0 picks a free one (see :attr:`endpoint`).
        token: when set, reading private repos needs the header ``Authorization: Bearer <token>``.
        record_requests: append every request to :attr:`requests` (tests); a long-running server turns it off.
    """

    def __init__(
        self, *, host: str = DEFAULT_HOST, port: int = 0, token: str | None = None, record_requests: bool = True
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.record_requests = record_requests
        self.requests: list[RequestRecord] = []
        self.unhandled: list[RequestRecord] = []
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, Path] = {}  # git blob id -> file holding the bytes
        self.lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        """Base URL to pass as ``endpoint=`` or ``HF_ENDPOINT``."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        """Bind the address and serve requests from a background thread."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._server = _Server((self.host, self.port), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ storage

    def new_commit(
        self, repo: Repo, branch: str, files: dict[str, str], message: str, date: str | None = None
    ) -> Commit:
        """Record a commit of ``files`` (path -> blob id) on ``branch`` of ``repo`` and move the branch to it."""
        parent = repo.branches.get(branch)
        seed = json.dumps([repo.repo_id, parent, message, sorted(files.items()), len(repo.commits)]).encode()
        commit = Commit(hashlib.sha1(seed).hexdigest(), parent, message, files, date or now_iso())
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit

    def get_repo(self, repo_id: str, headers: Mapping[str, str] | None = None) -> Repo:
        """The repo ``repo_id``; a 404 (401 without credentials) when it is missing or private to the caller."""
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and headers is not None and not self.authorized(headers)):
            # The Hub does not tell a missing repo from one the caller may not see.
            status = 401 if headers is not None and "authorization" not in headers else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def get_commit(self, repo_id: str, revision: str, headers: Mapping[str, str] | None = None) -> Commit:
        """The commit of ``revision`` (branch or commit id) in ``repo_id``; a 404 with ``RevisionNotFound`` if none."""
        commit = self.get_repo(repo_id, headers).resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def authorized(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries the server's token (always, when the server has none)."""
        return self.token is None or headers.get("authorization") == f"Bearer {self.token}"

    # ------------------------------------------------------------------ routing

    def route(self, method: str, seg: list[str], query: dict[str, str], headers: dict[str, str], body: bytes) -> Answer:
        """Answer one request (path ``seg``-ments, percent-decoded); raises :class:`HubError` or :class:`Unhandled`."""
        answer = self.write_route(method, seg, query, headers, body)
        if answer is not None:
            return answer
        if method == "POST" and seg == ["api", "validate-yaml"]:
            return 200, self._validate_yaml_route(body), {}
        if method == "GET" and seg == ["api", "agent-harnesses"]:
            # Fetched (best effort, once a day) by the client's user-agent code from HF_ENDPOINT.
            return 200, {"standardEnvVars": [], "harnesses": {}}, {}
        if len(seg) >= 4 and seg[:2] == ["api", "models"] and method == "GET":
            repo_id, rest = f"{seg[2]}/{seg[3]}", seg[4:]
            if not rest:
                return 200, self._info_route(repo_id, DEFAULT_BRANCH, headers, "blobs" in query), {}
            if len(rest) == 2 and rest[0] == "revision":
                return 200, self._info_route(repo_id, rest[1], headers, "blobs" in query), {}
            if len(rest) >= 2 and rest[0] == "tree":
                recursive = query.get("recursive", "false").lower() == "true"
                return 200, self._tree_route(repo_id, rest[1], "/".join(rest[2:]), recursive, headers), {}
        if method in ("GET", "HEAD") and len(seg) >= 5 and seg[2] == "resolve":
            path, blob_id, commit_oid = self._file(f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]), headers)
            extra = {"ETag": f'"{blob_id}"', "X-Repo-Commit": commit_oid, "Content-Type": "application/octet-stream"}
            return 200, path, extra
        raise Unhandled

    def write_route(
        self, method: str, seg: list[str], query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Answer | None:
        """Answer a write request (repo creation, commits, branches), or None when ``seg`` is not one.

        The base server is read-only: it refuses them with 405 (Method Not Allowed) and says so. (Not 403: on a 403
        ``HfApi.create_repo(exist_ok=True)`` looks the repo up and builds its URL, which fails for an endpoint other
        than ``HF_ENDPOINT``.) A writable server overrides this.
        """
        writes = seg == ["api", "repos", "create"] or (
            len(seg) == 6 and seg[:2] == ["api", "models"] and seg[4] in ("preupload", "commit", "branch")
        )
        if method == "POST" and writes:
            raise HubError(405, f"{type(self).__name__} serves its repos read-only: uploads go to the real Hub")
        return None

    def _info_route(self, repo_id: str, revision: str, headers: Mapping[str, str], blobs: bool) -> dict[str, Any]:
        """GET /api/models/{repo}[/revision/{rev}]: the commit id and the files (``siblings``)."""
        with self.lock:
            repo = self.get_repo(repo_id, headers)
            commit = self.get_commit(repo_id, revision, headers)
            siblings = []
            for path, blob_id in sorted(commit.files.items()):
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sibling.update(size=self.blobs[blob_id].stat().st_size, blobId=blob_id)
                siblings.append(sibling)
            return {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "lastModified": commit.date,
                "createdAt": repo.created,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "tags": [],
                "siblings": siblings,
            }

    def _tree_route(
        self, repo_id: str, revision: str, folder: str, recursive: bool, headers: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """GET /api/models/{repo}/tree/{rev}[/{folder}]: files and folders, one level or ``recursive``."""
        with self.lock:
            commit = self.get_commit(repo_id, revision, headers)
            prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
            entries: dict[str, dict[str, Any]] = {}
            for path, blob_id in sorted(commit.files.items()):
                if not path.startswith(prefix):
                    continue
                parts = path[len(prefix) :].split("/")
                depth = len(parts) if recursive else 1
                for i in range(1, min(len(parts), depth + 1)):  # the folders on the way down
                    folder_path = prefix + "/".join(parts[:i])
                    folder_id = hashlib.sha1(f"{commit.oid}:{folder_path}".encode()).hexdigest()
                    entries[folder_path] = {"type": "directory", "path": folder_path, "oid": folder_id, "size": 0}
                if len(parts) <= depth:
                    size = self.blobs[blob_id].stat().st_size
                    entries[path] = {"type": "file", "path": path, "oid": blob_id, "size": size}
            if prefix and not entries:
                raise HubError(404, f"{folder} does not exist on {revision}", "EntryNotFound")
            return [entries[path] for path in sorted(entries)]

    def _file(self, repo_id: str, revision: str, path: str, headers: Mapping[str, str]) -> tuple[Path, str, str]:
        """HEAD/GET /{repo}/resolve/{rev}/{path}: (file with the bytes, blob id for the ETag, commit id)."""
        with self.lock:
            commit = self.get_commit(repo_id, revision, headers)
            blob_id = commit.files.get(path)
            if blob_id is None:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound", headers={"X-Repo-Commit": commit.oid})
            return self.blobs[blob_id], blob_id, commit.oid

    def _validate_yaml_route(self, body: bytes) -> dict[str, Any]:
        """POST /api/validate-yaml: no errors; the Hub's warning when the card has no YAML header."""
        content = json.loads(body).get("content", "")
        warnings = []
        if not content.startswith("---\n") or "\n---" not in content[3:]:
            warnings.append({"message": "empty or missing yaml metadata in repo card"})
        return {"errors": [], "warnings": warnings}


class ZooServer(HubServer):
    """Serves every repo folder ``root/{org}/{name}/`` read-only, as one commit on ``main`` holding its files.

    Files and folders whose name starts with a dot are left out. The folders are read when the server is created:
    restart it after publishing again.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: ``root`` holds no ``{org}/{name}/`` folder with a ``config.json``.
    """

    def __init__(self, root: str | os.PathLike[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no zoo folder at {self.root}: expected a folder of {{org}}/{{name}}/ repos")
        for repo_dir in sorted(self.root.glob("*/*")):
            if repo_dir.is_dir() and (repo_dir / "config.json").is_file() and not _hidden(repo_dir, self.root):
                self._add_folder(f"{repo_dir.parent.name}/{repo_dir.name}", repo_dir)
        if not self.repos:
            raise ValueError(f"{self.root} holds no repos: expected {self.root}/{{org}}/{{name}}/config.json, as "
                             "written by `python -m benchmarks.publish --out` (pass that folder)")

    def _add_folder(self, repo_id: str, folder: Path) -> None:
        files: dict[str, str] = {}
        mtimes = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not _hidden(path, folder):
                blob_id = git_blob_id(path.read_bytes())
                self.blobs.setdefault(blob_id, path)
                files[path.relative_to(folder).as_posix()] = blob_id
                mtimes.append(path.stat().st_mtime)
        date = datetime.fromtimestamp(max(mtimes), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        repo = Repo(repo_id=repo_id, private=False, created=date)
        self.new_commit(repo, DEFAULT_BRANCH, files, f"Serve {folder}", date)
        self.repos[repo_id] = repo


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its HubServer and can close keep-alive connections on shutdown."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], hub: HubServer) -> None:
        super().__init__(address, handler)
        self.hub = hub
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, lets the HubServer answer it and writes the answer."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub; every answer carries Content-Length
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: requests are recorded in HubServer.requests instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        hub = self.server.hub
        url = urlsplit(self.path)
        segments = [unquote(part) for part in url.path.split("/")[1:]]
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        headers = {key.lower(): value for key, value in self.headers.items()}
        body = self.rfile.read(int(headers.get("content-length", 0) or 0))
        record = RequestRecord(self.command, "/" + "/".join(segments), query, headers)
        try:
            status, payload, extra = hub.route(self.command, segments, query, headers, body)
        except HubError as err:
            status, payload, extra = err.status, {"error": err.message}, dict(err.headers)
            if err.code:
                extra["X-Error-Code"] = err.code
            extra["X-Error-Message"] = err.message
        except Unhandled:
            status, payload, extra = 404, {"error": f"no route for {self.command} {url.path}"}, {}
            hub.unhandled.append(record)
        if hub.record_requests:
            hub.requests.append(RequestRecord(record.method, record.path, query, headers, status))
        self._send(status, payload, extra)

    def _send(self, status: int, payload: Any, extra: Mapping[str, str]) -> None:
        data = payload.read_bytes() if isinstance(payload, Path) else json.dumps(payload).encode()
        self.send_response(status)
        if not isinstance(payload, Path):
            self.send_header("Content-Type", "application/json")
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
