"""A small Hugging Face Hub look-alike for tests: stdlib only, bound to 127.0.0.1 on a free port.

:class:`LocalHub` is the read-only :class:`iqlzoo.hub_server.HubServer` plus the write routes ``huggingface_hub``
(checked against 2.4.0) uses to create model repos and upload folders::

    with LocalHub() as hub:
        HfApi(endpoint=hub.endpoint).create_repo("user/agent")

Every file is stored as a regular git blob: the preupload endpoint answers ``uploadMode: "regular"`` so the client
sends contents inline in the NDJSON commit and needs neither LFS nor Xet. Blobs live in a temporary folder that is
removed on :meth:`LocalHub.stop`. Every request is appended to :attr:`LocalHub.requests`; requests to routes the
server does not implement are also appended to :attr:`LocalHub.unhandled`.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iqlzoo.hub_server import (
    DEFAULT_BRANCH,
    Answer,
    Commit,
    HubError,
    HubServer,
    Repo,
    RequestRecord,
    git_blob_id,
    now_iso,
)

__all__ = ["DEFAULT_BRANCH", "LocalHub", "RequestRecord"]


class LocalHub(HubServer):
    """A writable Hub-compatible HTTP server on ``127.0.0.1`` with its repos in a temporary folder.

    Args:
        token: when set, creating repos, branches and commits, and reading private repos, need the header
            ``Authorization: Bearer <token>``; when None nothing is checked.
    """

    def __init__(self, *, token: str | None = None) -> None:
        super().__init__(token=token)
        self._blob_dir: Path | None = None

    def start(self) -> LocalHub:
        """Bind a free port and serve requests from a background thread, with a fresh blob folder."""
        self._blob_dir = Path(tempfile.mkdtemp(prefix="localhub-"))
        super().start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and delete the stored repos."""
        super().stop()
        if self._blob_dir is not None:
            shutil.rmtree(self._blob_dir, ignore_errors=True)
        self._blob_dir = None
        self.repos.clear()
        self.blobs.clear()

    def __enter__(self) -> LocalHub:
        return self.start()

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
        with self.lock:
            repo = self.repos.get(repo_id) or self._create_repo(repo_id, private=private)
            head = repo.resolve(branch)
            if head is None:
                raise KeyError(f"{repo_id} has no branch {branch!r}")
            tree = dict(head.files)
            tree.update({path: self._store_blob(data) for path, data in files.items()})
            return self.new_commit(repo, branch, tree, message).oid

    def list_files(self, repo_id: str, revision: str = DEFAULT_BRANCH) -> list[str]:
        """Sorted paths of the files in ``repo_id`` at ``revision``."""
        with self.lock:
            return sorted(self.get_commit(repo_id, revision).files)

    def read_file(self, repo_id: str, path: str, revision: str = DEFAULT_BRANCH) -> bytes:
        """Contents of ``path`` in ``repo_id`` at ``revision``."""
        with self.lock:
            return self.blobs[self.get_commit(repo_id, revision).files[path]].read_bytes()

    def commit_ids(self, repo_id: str, branch: str = DEFAULT_BRANCH) -> list[str]:
        """Commit ids on ``branch``, newest first."""
        with self.lock:
            repo = self.repos[repo_id]
            oids = []
            commit: Commit | None = repo.resolve(branch)
            while commit is not None:
                oids.append(commit.oid)
                commit = repo.commits.get(commit.parent) if commit.parent else None
            return oids

    def is_private(self, repo_id: str) -> bool:
        """Whether ``repo_id`` was created private."""
        with self.lock:
            return self.repos[repo_id].private

    # ------------------------------------------------------------------ storage

    def _store_blob(self, data: bytes) -> str:
        assert self._blob_dir is not None, "LocalHub is not running"
        blob_id = git_blob_id(data)
        path = self._blob_dir / blob_id
        if not path.exists():
            path.write_bytes(data)
        self.blobs[blob_id] = path
        return blob_id

    def _create_repo(self, repo_id: str, *, private: bool) -> Repo:
        # Like the Hub, a new repo starts with one commit holding a .gitattributes file.
        repo = Repo(repo_id=repo_id, private=private, created=now_iso())
        self.repos[repo_id] = repo
        gitattributes = self._store_blob(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
        self.new_commit(repo, DEFAULT_BRANCH, {".gitattributes": gitattributes}, "initial commit")
        return repo

    def _require_write(self, headers: Mapping[str, str]) -> None:
        if not self.authorized(headers):
            raise HubError(401, "Invalid credentials in Authorization header")

    # ------------------------------------------------------------------ write routes

    def write_route(
        self, method: str, seg: list[str], query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Answer | None:
        """Repo creation, preupload, commit and branch creation; None for any other request."""
        if method != "POST":
            return None
        if seg == ["api", "repos", "create"]:
            status, payload = self._create_repo_route(headers, body)
            return status, payload, {}
        if len(seg) == 6 and seg[:2] == ["api", "models"]:
            repo_id, kind, revision = f"{seg[2]}/{seg[3]}", seg[4], seg[5]
            if kind == "preupload":
                return 200, self._preupload_route(repo_id, revision, headers, body), {}
            if kind == "commit":
                return 200, self._commit_route(repo_id, revision, query, headers, body), {}
            if kind == "branch":
                return 200, self._branch_route(repo_id, revision, headers, body), {}
        return None

    def _create_repo_route(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """POST /api/repos/create: 200 with the repo URL, 409 when it exists."""
        self._require_write(headers)
        payload = json.loads(body or b"{}")
        if payload.get("type", "model") != "model":
            raise HubError(400, "LocalHub only hosts model repos")
        if not payload.get("organization"):
            raise HubError(400, "LocalHub needs a 'namespace/name' repo id")
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = f"{self.endpoint}/{repo_id}"
        with self.lock:
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo", "url": url}
            self._create_repo(repo_id, private=payload.get("visibility", "public") == "private")
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def _preupload_route(self, repo_id: str, revision: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """POST /api/models/{repo}/preupload/{rev}: every file goes inline (``regular``); ``oid`` of the current one."""
        self._require_write(headers)
        payload = json.loads(body)
        with self.lock:
            commit = self.get_commit(repo_id, revision, headers)
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
            raise HubError(400, "LocalHub does not support pull requests")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first NDJSON line of a commit must be its header")
        header = lines[0]["value"]
        with self.lock:
            repo = self.get_repo(repo_id, headers)
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision} (commits go to a branch)", "RevisionNotFound")
            head = repo.commits[repo.branches[revision]]
            if header.get("parentCommit") not in (None, head.oid):
                raise HubError(412, f"A commit has happened since {header['parentCommit']}")
            tree = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                if key == "file" and value.get("encoding") == "base64":
                    tree[value["path"]] = self._store_blob(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    if tree.pop(value["path"], None) is None:
                        raise HubError(404, f"{value['path']} does not exist", "EntryNotFound")
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    tree = {path: blob for path, blob in tree.items() if not path.startswith(folder)}
                else:
                    raise HubError(400, f"LocalHub cannot apply commit operation {key!r} (only regular files)")
            commit = self.new_commit(repo, revision, tree, header.get("summary", ""))
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
        with self.lock:
            repo = self.get_repo(repo_id, headers)
            if branch in repo.branches:
                raise HubError(409, f"Reference refs/heads/{branch} already exists")
            repo.branches[branch] = self.get_commit(repo_id, start, headers).oid
        return {}
