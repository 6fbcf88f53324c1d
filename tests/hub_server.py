"""A small Hugging Face Hub look-alike for tests: stdlib only, bound to 127.0.0.1 on a free port.

It speaks the subset of the Hub HTTP API that ``huggingface_hub`` (checked against 2.4.0) uses to create model
repos, upload folders, resolve revisions, list trees and download files::

    with LocalHub() as hub:
        HfApi(endpoint=hub.endpoint).create_repo("user/agent")

Every file is stored as a regular git blob: the preupload endpoint answers ``uploadMode: "regular"`` so the client
sends contents inline in the NDJSON commit and needs neither LFS nor Xet. Blobs live in a temporary folder that is
removed on :meth:`LocalHub.stop`. Errors carry the ``X-Error-Code`` header the real Hub sends (``RepoNotFound``,
``RevisionNotFound``, ``EntryNotFound``), so the client raises its usual exceptions.

Every request is appended to :attr:`LocalHub.requests`; requests to routes this server does not implement are also
appended to :attr:`LocalHub.unhandled`, so a test can tell a missing route from a genuine 404.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class RequestRecord:
    """One request received by the server."""

    method: str
    path: str  # URL path, percent-decoded, without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    status: int = 0


@dataclass
class _Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, str]  # path in repo -> git blob id
    date: str


@dataclass
class _Repo:
    repo_id: str
    private: bool
    created: str
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid
    commits: dict[str, _Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> _Commit | None:
        """The commit a branch name or full commit id points to, or None."""
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)


class _HubError(Exception):
    """An error answer: HTTP status, message and the Hub's ``X-Error-Code`` (if the real Hub sends one)."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class LocalHub:
    """A Hub-compatible HTTP server on ``127.0.0.1`` with its repos in a temporary folder.

    Args:
        token: when set, creating repos, branches and commits, and reading private repos, need the header
            ``Authorization: Bearer <token>``; when None nothing is checked.
    """

    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.requests: list[RequestRecord] = []
        self.unhandled: list[RequestRecord] = []
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.RLock()
        self._n_commits = 0
        self._blob_dir: Path | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        """Base URL to pass as ``endpoint=`` or ``HF_ENDPOINT``."""
        if self._server is None:
            raise RuntimeError("LocalHub is not running: call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalHub:
        """Bind a free port and serve requests from a background thread."""
        if self._server is not None:
            raise RuntimeError("LocalHub is already running")
        self._blob_dir = Path(tempfile.mkdtemp(prefix="localhub-"))
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="localhub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and delete the stored repos."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._blob_dir is not None:
            shutil.rmtree(self._blob_dir, ignore_errors=True)
        self._server = self._thread = self._blob_dir = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ direct access for tests

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        message: str = "Add files",
        branch: str = DEFAULT_BRANCH,
        private: bool = False,
    ) -> str:
        """Commit ``files`` to ``branch`` without going through HTTP (creating the repo if needed).

        Returns the new commit id. Useful to put files in a repo that a well-behaved client would never upload.
        """
        with self._lock:
            repo = self._repos.get(repo_id) or self._create_repo(repo_id, private=private)
            head = repo.resolve(branch)
            if head is None:
                raise KeyError(f"{repo_id} has no branch {branch!r}")
            tree = dict(head.files)
            tree.update({path: self._store_blob(data) for path, data in files.items()})
            return self._commit(repo, branch, tree, message).oid

    def list_files(self, repo_id: str, revision: str = DEFAULT_BRANCH) -> list[str]:
        """Sorted paths of the files in ``repo_id`` at ``revision``."""
        with self._lock:
            return sorted(self._get_commit(repo_id, revision).files)

    def read_file(self, repo_id: str, path: str, revision: str = DEFAULT_BRANCH) -> bytes:
        """Contents of ``path`` in ``repo_id`` at ``revision``."""
        with self._lock:
            return self._blob_path(self._get_commit(repo_id, revision).files[path]).read_bytes()

    def commit_ids(self, repo_id: str, branch: str = DEFAULT_BRANCH) -> list[str]:
        """Commit ids on ``branch``, newest first."""
        with self._lock:
            repo = self._repos[repo_id]
            oids = []
            commit = repo.resolve(branch)
            while commit is not None:
                oids.append(commit.oid)
                commit = repo.commits.get(commit.parent) if commit.parent else None
            return oids

    def is_private(self, repo_id: str) -> bool:
        """Whether ``repo_id`` was created private."""
        with self._lock:
            return self._repos[repo_id].private

    # ------------------------------------------------------------------ storage

    def _blob_path(self, blob_id: str) -> Path:
        assert self._blob_dir is not None
        return self._blob_dir / blob_id

    def _store_blob(self, data: bytes) -> str:
        blob_id = _git_blob_id(data)
        path = self._blob_path(blob_id)
        if not path.exists():
            path.write_bytes(data)
        return blob_id

    def _create_repo(self, repo_id: str, *, private: bool) -> _Repo:
        # Like the Hub, a new repo starts with one commit holding a .gitattributes file.
        repo = _Repo(repo_id=repo_id, private=private, created=_now())
        self._repos[repo_id] = repo
        gitattributes = self._store_blob(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
        self._commit(repo, DEFAULT_BRANCH, {".gitattributes": gitattributes}, "initial commit")
        return repo

    def _commit(self, repo: _Repo, branch: str, files: dict[str, str], message: str) -> _Commit:
        self._n_commits += 1
        parent = repo.branches.get(branch)
        seed = json.dumps([repo.repo_id, parent, message, sorted(files.items()), self._n_commits]).encode()
        commit = _Commit(hashlib.sha1(seed).hexdigest(), parent, message, files, _now())
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit

    def _get_repo(self, repo_id: str, headers: Mapping[str, str] | None = None) -> _Repo:
        repo = self._repos.get(repo_id)
        if repo is None or (repo.private and headers is not None and not self._authorized(headers)):
            # The Hub does not tell a missing repo from one the caller may not see.
            status = 401 if headers is not None and "authorization" not in headers else 404
            raise _HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def _get_commit(self, repo_id: str, revision: str, headers: Mapping[str, str] | None = None) -> _Commit:
        commit = self._get_repo(repo_id, headers).resolve(revision)
        if commit is None:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        return self.token is None or headers.get("authorization") == f"Bearer {self.token}"

    def _require_write(self, headers: Mapping[str, str]) -> None:
        if not self._authorized(headers):
            raise _HubError(401, "Invalid credentials in Authorization header")

    # ------------------------------------------------------------------ API routes

    def _create_repo_route(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """POST /api/repos/create: 200 with the repo URL, 409 when it exists."""
        self._require_write(headers)
        payload = json.loads(body or b"{}")
        if payload.get("type", "model") != "model":
            raise _HubError(400, "LocalHub only hosts model repos")
        if not payload.get("organization"):
            raise _HubError(400, "LocalHub needs a 'namespace/name' repo id")
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = f"{self.endpoint}/{repo_id}"
        with self._lock:
            if repo_id in self._repos:
                return 409, {"error": "You already created this model repo", "url": url}
            self._create_repo(repo_id, private=payload.get("visibility", "public") == "private")
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def _info_route(self, repo_id: str, revision: str, headers: Mapping[str, str], blobs: bool) -> dict[str, Any]:
        """GET /api/models/{repo}[/revision/{rev}]: the commit id and the files (``siblings``)."""
        with self._lock:
            repo = self._get_repo(repo_id, headers)
            commit = self._get_commit(repo_id, revision, headers)
            siblings = []
            for path, blob_id in sorted(commit.files.items()):
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sibling.update(size=self._blob_path(blob_id).stat().st_size, blobId=blob_id)
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
        with self._lock:
            commit = self._get_commit(repo_id, revision, headers)
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
                    size = self._blob_path(blob_id).stat().st_size
                    entries[path] = {"type": "file", "path": path, "oid": blob_id, "size": size}
            if prefix and not entries:
                raise _HubError(404, f"{folder} does not exist on {revision}", "EntryNotFound")
            return [entries[path] for path in sorted(entries)]

    def _preupload_route(self, repo_id: str, revision: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """POST /api/models/{repo}/preupload/{rev}: every file goes inline (``regular``); ``oid`` of the current one."""
        self._require_write(headers)
        payload = json.loads(body)
        with self._lock:
            commit = self._get_commit(repo_id, revision, headers)
            files = [
                {
                    "path": item["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": commit.files.get(item["path"]),
                }
                for item in payload["files"]
            ]
            return {"files": files, "commitOid": commit.oid}

    def _commit_route(
        self, repo_id: str, revision: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        """POST /api/models/{repo}/commit/{branch}: apply the NDJSON operations as one new commit."""
        self._require_write(headers)
        if query.get("create_pr"):
            raise _HubError(400, "LocalHub does not support pull requests")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "The first NDJSON line of a commit must be its header")
        header = lines[0]["value"]
        with self._lock:
            repo = self._get_repo(repo_id, headers)
            if revision not in repo.branches:
                raise _HubError(404, f"Invalid rev id: {revision} (commits go to a branch)", "RevisionNotFound")
            head = repo.commits[repo.branches[revision]]
            if header.get("parentCommit") not in (None, head.oid):
                raise _HubError(412, f"A commit has happened since {header['parentCommit']}")
            tree = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                if key == "file" and value.get("encoding") == "base64":
                    tree[value["path"]] = self._store_blob(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    if tree.pop(value["path"], None) is None:
                        raise _HubError(404, f"{value['path']} does not exist", "EntryNotFound")
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    tree = {path: blob for path, blob in tree.items() if not path.startswith(folder)}
                else:
                    raise _HubError(400, f"LocalHub cannot apply commit operation {key!r} (only regular files)")
            commit = self._commit(repo, revision, tree, header.get("summary", ""))
        return {
            "success": True,
            "commitOid": commit.oid,
            "commitUrl": f"{self.endpoint}/{repo_id}/commit/{commit.oid}",
            "hookOutput": "",
            "pullRequestUrl": None,
        }

    def _branch_route(self, repo_id: str, branch: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """POST /api/models/{repo}/branch/{branch}: create it at ``startingPoint`` (default main); 409 if it exists."""
        self._require_write(headers)
        start = json.loads(body or b"{}").get("startingPoint", DEFAULT_BRANCH)
        with self._lock:
            repo = self._get_repo(repo_id, headers)
            if branch in repo.branches:
                raise _HubError(409, f"Reference refs/heads/{branch} already exists")
            repo.branches[branch] = self._get_commit(repo_id, start, headers).oid
        return {}

    def _file(self, repo_id: str, revision: str, path: str, headers: Mapping[str, str]) -> tuple[Path, str, str]:
        """HEAD/GET /{repo}/resolve/{rev}/{path}: (blob file, blob id for the ETag, commit id)."""
        with self._lock:
            commit = self._get_commit(repo_id, revision, headers)
            blob_id = commit.files.get(path)
            if blob_id is None:
                raise _HubError(404, f"Entry not found: {path}", "EntryNotFound", headers={"X-Repo-Commit": commit.oid})
            return self._blob_path(blob_id), blob_id, commit.oid

    def _validate_yaml_route(self, body: bytes) -> dict[str, Any]:
        """POST /api/validate-yaml: no errors; the Hub's warning when the card has no YAML header."""
        content = json.loads(body).get("content", "")
        warnings = []
        if not content.startswith("---\n") or "\n---" not in content[3:]:
            warnings.append({"message": "empty or missing yaml metadata in repo card"})
        return {"errors": [], "warnings": warnings}


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its LocalHub and can close keep-alive connections on shutdown."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], hub: LocalHub) -> None:
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
    """Routes one request to the LocalHub and writes the answer."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub; every answer carries Content-Length
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: requests are recorded in LocalHub.requests instead."""

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
            status, payload, extra = self._route(hub, segments, query, headers, body)
        except _HubError as err:
            status, payload, extra = err.status, {"error": err.message}, dict(err.headers)
            if err.code:
                extra["X-Error-Code"] = err.code
            extra["X-Error-Message"] = err.message
        except _Unhandled:
            status, payload, extra = 404, {"error": f"LocalHub has no route for {self.command} {url.path}"}, {}
            hub.unhandled.append(record)
        hub.requests.append(RequestRecord(record.method, record.path, query, headers, status))
        self._send(status, payload, extra)

    def _route(
        self, hub: LocalHub, seg: list[str], query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        method = self.command
        if method == "POST" and seg == ["api", "repos", "create"]:
            status, payload = hub._create_repo_route(headers, body)
            return status, payload, {}
        if method == "POST" and seg == ["api", "validate-yaml"]:
            return 200, hub._validate_yaml_route(body), {}
        if method == "GET" and seg == ["api", "agent-harnesses"]:
            # Fetched (best effort, once a day) by the client's user-agent code from HF_ENDPOINT.
            return 200, {"standardEnvVars": [], "harnesses": {}}, {}
        if len(seg) >= 4 and seg[:2] == ["api", "models"]:
            repo_id, rest = f"{seg[2]}/{seg[3]}", seg[4:]
            if method == "GET" and not rest:
                return 200, hub._info_route(repo_id, DEFAULT_BRANCH, headers, "blobs" in query), {}
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                return 200, hub._info_route(repo_id, rest[1], headers, "blobs" in query), {}
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                recursive = query.get("recursive", "false").lower() == "true"
                return 200, hub._tree_route(repo_id, rest[1], "/".join(rest[2:]), recursive, headers), {}
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                return 200, hub._preupload_route(repo_id, rest[1], headers, body), {}
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                return 200, hub._commit_route(repo_id, rest[1], query, headers, body), {}
            if method == "POST" and len(rest) == 2 and rest[0] == "branch":
                return 200, hub._branch_route(repo_id, rest[1], headers, body), {}
        if method in ("GET", "HEAD") and len(seg) >= 5 and seg[2] == "resolve":
            path, blob_id, commit_oid = hub._file(f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]), headers)
            extra = {"ETag": f'"{blob_id}"', "X-Repo-Commit": commit_oid, "Content-Type": "application/octet-stream"}
            return 200, path, extra
        raise _Unhandled

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


class _Unhandled(Exception):
    """No route matches the request."""
