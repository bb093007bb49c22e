"""A local stand-in for the Hugging Face Hub, spoken to over real HTTP.

It implements the routes that `huggingface_hub` (2.4) and `transformers` call to
create repos and Spaces, commit files, read repo info and trees, and resolve
(download) files, set Space secrets and settings, with the Hub's status codes and
`X-Error-Code` headers so that huggingface_hub raises its own specific errors.
Files are kept in memory.

Uploads take the two paths the real Hub offers: small files "regular" (base64 in
the commit), and weights (`*.safetensors`, `*.gguf`, ...) through Git LFS, as
the Hub does: preupload answers "lfs", the client asks the LFS batch API where to
put the content, PUTs it there, asks for it to be verified, and commits a pointer
(`lfsFile`). A commit that carries weights inline is refused, as the Hub refuses
it. The server speaks LFS, not Xet, so clients run with HF_HUB_DISABLE_XET=1
(tests/conftest.py sets it).

A route the server does not implement answers 501 and is recorded in `unhandled`;
the `hub` fixture fails the test when that list is not empty, so a client that
starts calling something new is noticed instead of quietly getting a 404.

    server = HubServer(tokens={"hf_secret": "alice"}).start()
    os.environ["HF_ENDPOINT"] = server.url
    ...
    server.files("alice/model")  # {"config.json": b"...", ...}
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

ALICE_TOKEN = "hf_" + "a1ice" * 7
BOB_TOKEN = "hf_" + "b0b" * 12
USER_TOKENS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}
"""Valid tokens of the test Hub and their users (shaped like real Hub tokens)."""

_TYPES = "models|datasets|spaces"
_REPO = r"(?P<repo>[^/]+/[^/]+|[^/]+)"
_REV = r"(?P<rev>[^/]+)"
_PREFIX = r"(?:(?P<type>datasets|spaces)/)?"
LFS_PATTERNS = ("*.safetensors", "*.gguf", "*.bin", "*.pt", "*.pth", "*.onnx", "*.zip")
"""Files the Hub stores through Git LFS (its default .gitattributes lists these and more)."""


def is_lfs(path: str) -> bool:
    return any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in LFS_PATTERNS)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def git_blob_id(content: bytes) -> str:
    """The git object id of a file, which the Hub uses as its ETag."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    repo_id: str
    repo_type: str = "model"
    private: bool = False
    gated: bool = False
    granted: set[str] = field(default_factory=set)
    sdk: str | None = None
    hardware: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    @property
    def owner(self) -> str:
        return self.repo_id.split("/")[0]

    @property
    def sha(self) -> str:
        return self.commits[-1][0]

    @property
    def files(self) -> dict[str, bytes]:
        return self.commits[-1][1]

    def snapshot(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        if revision == "main":
            return self.commits[-1]
        return next((c for c in self.commits if c[0] == revision), None)

    def commit(self, files: dict[str, bytes], summary: str) -> str:
        parent = self.commits[-1][0] if self.commits else ""
        digest = hashlib.sha1(f"{parent}{summary}{len(self.commits)}".encode())
        for path in sorted(files):
            digest.update(path.encode() + git_blob_id(files[path]).encode())
        self.commits.append((digest.hexdigest(), files))
        return self.sha


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(data: object, status: int = 200, **headers: str) -> Reply:
    return Reply(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


def _error(status: int, code: str | None, message: str, **headers: str) -> Reply:
    extra = {"X-Error-Message": message, **headers}
    if code:
        extra["X-Error-Code"] = code
    return _json({"error": message}, status, **extra)


class _Unauthorized(Exception):
    """An Authorization header with a token the server does not know."""


class HubServer:
    """The Hub on 127.0.0.1: `tokens` maps each valid token to its user name."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.tokens = dict(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[str] = []
        self.unhandled: list[str] = []
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content, once PUT and verified
        self._lfs_pending: dict[str, bytes] = {}  # sha256 -> content PUT, not yet verified
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.hub = self  # type: ignore[attr-defined]
        self._routes = [
            ("GET", r"/api/whoami-v2", self._whoami),
            ("POST", r"/api/repos/create", self._create_repo),
            ("POST", r"/api/validate-yaml", self._validate_yaml),
            ("GET", rf"/api/(?P<type>{_TYPES})/{_REPO}(?:/revision/{_REV})?", self._info),
            ("GET", rf"/api/(?P<type>{_TYPES})/{_REPO}/tree/{_REV}(?:/(?P<path>.*))?", self._tree),
            ("POST", rf"/api/(?P<type>{_TYPES})/{_REPO}/preupload/{_REV}", self._preupload),
            ("POST", rf"/api/(?P<type>{_TYPES})/{_REPO}/commit/{_REV}", self._commit),
            ("PUT", rf"/api/(?P<type>{_TYPES})/{_REPO}/settings", self._settings),
            ("POST", rf"/api/(?P<type>spaces)/{_REPO}/secrets", self._add_secret),
            ("POST", rf"/{_PREFIX}{_REPO}\.git/info/lfs/objects/batch", self._lfs_batch),
            ("PUT", r"/lfs-storage/(?P<oid>[0-9a-f]{64})", self._lfs_put),
            ("POST", rf"/{_PREFIX}{_REPO}\.git/info/lfs/objects/verify", self._lfs_verify),
            ("GET HEAD", rf"/{_PREFIX}{_REPO}/resolve/{_REV}/(?P<path>.+)", self._resolve),
        ]

    # -- lifecycle and inspection ------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (safe to call twice)."""
        if self._http.socket.fileno() != -1:
            self._http.shutdown()
            self._http.server_close()

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """The files at the head of `main` of a repo."""
        return dict(self.repo(repo_id, repo_type).files)

    def add_repo(self, repo_id: str, files: dict[str, bytes], **settings: object) -> Repo:
        """Seed a repo (e.g. `gated=True`, `private=True`) as if someone had pushed it."""
        repo = Repo(repo_id, **settings)  # type: ignore[arg-type]
        repo.commit(dict(files), "initial commit")
        self.repos[(repo.repo_type, repo_id)] = repo
        return repo

    # -- dispatch ------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        self.requests.append(f"{method} {parts.path}")
        for verb, pattern, route in self._routes:
            match = re.fullmatch(pattern, parts.path)
            if method in verb.split() and match:
                request = _Request(method, match.groupdict(), parse_qs(parts.query), headers, body)
                try:
                    with self._lock:
                        return route(request)
                except _Unauthorized:
                    return _error(401, None, "Invalid credentials in Authorization header")
        self.unhandled.append(f"{method} {target}")
        return _error(501, None, f"the test Hub has no route for {method} {parts.path}")

    def _user(self, request: _Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            raise _Unauthorized
        return self.tokens[token]

    def _readable(self, request: _Request) -> Repo | Reply:
        """The repo named in the URL, or the error the Hub gives a caller who cannot see it."""
        user = self._user(request)
        key = ((request.params.get("type") or "models")[:-1], unquote(request.params["repo"]))
        repo = self.repos.get(key)
        if repo is None or (repo.private and user != repo.owner):
            return _error(401 if user is None else 404, "RepoNotFound", "Repository not found")
        return repo

    def _writable(self, request: _Request) -> Repo | Reply:
        repo = self._readable(request)
        user = self._user(request)
        if isinstance(repo, Repo) and user != repo.owner:
            status, message = (401, "Invalid username or password.") if user is None else (403, "")
            return _error(status, None, message or f"{user} cannot write to {repo.repo_id}")
        return repo

    # -- routes ----------------------------------------------------------------------

    def _whoami(self, request: _Request) -> Reply:
        user = self._user(request)
        if user is None:
            return _error(401, None, "Invalid credentials in Authorization header")
        token = {"displayName": "test", "role": "write"}
        return _json({"type": "user", "name": user, "orgs": [], "auth": {"accessToken": token}})

    def _create_repo(self, request: _Request) -> Reply:
        user = self._user(request)
        if user is None:
            return _error(401, None, "Invalid username or password.")
        payload = json.loads(request.body)
        namespace = payload.get("organization") or user
        if namespace != user:
            return _error(
                403, None, f"You don't have the rights to create a repo under {namespace}"
            )
        repo = Repo(
            f"{namespace}/{payload['name']}",
            repo_type=payload.get("type") or "model",
            private=payload.get("visibility") == "private",
            sdk=payload.get("sdk"),
            hardware=payload.get("hardware"),
        )
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        url = f"{self.url}/{prefix}{repo.repo_id}"
        if (repo.repo_type, repo.repo_id) in self.repos:
            return _json({"error": "You already created this repo", "url": url}, 409)
        repo.commit(
            {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}, "init"
        )
        self.repos[(repo.repo_type, repo.repo_id)] = repo
        return _json({"url": url, "name": repo.repo_id})

    def _validate_yaml(self, request: _Request) -> Reply:
        content = json.loads(request.body)["content"]
        match = re.match(r"---\n(.*?)\n---\n", content, re.DOTALL)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as exc:
            return _json({"errors": [{"message": str(exc)}]}, 400)
        if not isinstance(metadata, dict | None):
            return _json({"errors": [{"message": "metadata must be a mapping"}]}, 400)
        return _json({"errors": [], "warnings": []})

    def _info(self, request: _Request) -> Reply:
        repo = self._readable(request)
        if isinstance(repo, Reply):
            return repo
        snapshot = repo.snapshot(unquote(request.params.get("rev") or "main"))
        if snapshot is None:
            return _error(404, "RevisionNotFound", "Invalid rev id")
        sha, files = snapshot
        siblings = [{"rfilename": path, "size": len(data)} for path, data in sorted(files.items())]
        info = {
            "id": repo.repo_id,
            "author": repo.owner,
            "sha": sha,
            "private": repo.private,
            "gated": "auto" if repo.gated else False,
            "tags": [],
            "siblings": siblings,
        }
        if repo.repo_type == "space":
            info["sdk"] = repo.sdk
            info["runtime"] = {"stage": "BUILDING", "hardware": {"requested": repo.hardware}}
        return _json(info)

    def _tree(self, request: _Request) -> Reply:
        repo = self._readable(request)
        if isinstance(repo, Reply):
            return repo
        snapshot = repo.snapshot(unquote(request.params["rev"]))
        if snapshot is None:
            return _error(404, "RevisionNotFound", "Invalid rev id")
        root = unquote(request.params.get("path") or "").strip("/")
        recursive = request.query.get("recursive", ["False"])[0].lower() == "true"
        entries = _tree_entries(snapshot[1], root, recursive)
        if root and not entries:
            return _error(404, "EntryNotFound", f"{root} does not exist")
        return _json(entries)

    def _preupload(self, request: _Request) -> Reply:
        repo = self._writable(request)
        if isinstance(repo, Reply):
            return repo
        files = []
        for item in json.loads(request.body)["files"]:
            path, existing = item["path"], repo.files.get(item["path"])
            mode = "lfs" if is_lfs(path) else "regular"
            # the oid the client compares with its own to skip unchanged files
            oid = None if existing is None else (sha256 if mode == "lfs" else git_blob_id)(existing)
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return _json({"files": files, "commitOid": repo.sha})

    def _commit(self, request: _Request) -> Reply:
        repo = self._writable(request)
        if isinstance(repo, Reply):
            return repo
        if unquote(request.params["rev"]) != "main":
            return _error(404, "RevisionNotFound", "Invalid rev id")
        lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        files = dict(repo.files)
        for line in lines[1:]:
            error = _apply(files, line["key"], line["value"], self.lfs_objects)
            if error:
                return _error(400, None, error)
        sha = repo.commit(files, lines[0]["value"]["summary"])
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        url = f"{self.url}/{prefix}{repo.repo_id}/commit/{sha}"
        return _json({"success": True, "commitOid": sha, "commitUrl": url, "pullRequestUrl": None})

    def _resolve(self, request: _Request) -> Reply:
        repo = self._readable(request)
        if isinstance(repo, Reply):
            return repo
        user = self._user(request)
        if repo.gated and user is None:
            return _error(
                401, "GatedRepo", f"Access to {repo.repo_id} is restricted. Please log in."
            )
        if repo.gated and user != repo.owner and user not in repo.granted:
            return _error(403, "GatedRepo", f"Access to {repo.repo_id} is restricted.")
        snapshot = repo.snapshot(unquote(request.params["rev"]))
        if snapshot is None:
            return _error(404, "RevisionNotFound", "Invalid rev id")
        sha, files = snapshot
        content = files.get(unquote(request.params["path"]))
        if content is None:
            return _error(404, "EntryNotFound", "Entry not found", **{"X-Repo-Commit": sha})
        headers = {
            "ETag": f'"{git_blob_id(content)}"',
            "X-Repo-Commit": sha,
            "Content-Type": "application/octet-stream",
        }
        if is_lfs(unquote(request.params["path"])):  # the Hub names LFS files by their sha256
            headers["X-Linked-Etag"] = f'"{sha256(content)}"'
            headers["X-Linked-Size"] = str(len(content))
        return Reply(200, content, headers)

    def _settings(self, request: _Request) -> Reply:
        repo = self._writable(request)
        if isinstance(repo, Reply):
            return repo
        payload = json.loads(request.body)
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        if "gated" in payload:
            repo.gated = payload["gated"] not in (False, None)
        return _json({})

    def _add_secret(self, request: _Request) -> Reply:
        repo = self._writable(request)
        if isinstance(repo, Reply):
            return repo
        payload = json.loads(request.body)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", payload.get("key") or ""):
            return _error(400, None, f"invalid secret name {payload.get('key')!r}")
        repo.secrets[payload["key"]] = payload["value"]
        return _json({})

    # -- Git LFS: batch, upload (the Hub's presigned storage URL), verify ----------------

    def _lfs_batch(self, request: _Request) -> Reply:
        repo = self._writable(request)
        if isinstance(repo, Reply):
            return repo
        payload = json.loads(request.body)
        if payload.get("operation") != "upload" or payload.get("hash_algo") != "sha256":
            return _error(400, None, "only sha256 uploads are supported")
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        verify = f"{self.url}/{prefix}{repo.repo_id}.git/info/lfs/objects/verify"
        objects = []
        for item in payload["objects"]:
            entry = {"oid": item["oid"], "size": item["size"]}
            if item["oid"] not in self.lfs_objects:  # no actions: the Hub already has it
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-storage/{item['oid']}"},
                    "verify": {"href": verify},
                }
            objects.append(entry)
        return _json({"transfer": "basic", "objects": objects})

    def _lfs_put(self, request: _Request) -> Reply:
        # presigned storage: no Authorization, the URL itself is the permission
        if "authorization" in request.headers:
            return _error(400, None, "the storage URL must not receive the Hub token")
        oid = request.params["oid"]
        if sha256(request.body) != oid:
            return _error(400, None, f"content does not match its sha256 {oid}")
        self._lfs_pending[oid] = request.body
        return Reply(200)

    def _lfs_verify(self, request: _Request) -> Reply:
        repo = self._writable(request)
        if isinstance(repo, Reply):
            return repo
        item = json.loads(request.body)
        content = self._lfs_pending.pop(item["oid"], None)
        if content is None or len(content) != item["size"]:
            return _error(404, None, f"object {item['oid']} was not uploaded")
        self.lfs_objects[item["oid"]] = content
        return _json({})


@dataclass
class _Request:
    method: str
    params: dict[str, str | None]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


def _apply(files: dict[str, bytes], key: str, value: dict, lfs: dict[str, bytes]) -> str | None:
    """Apply one commit operation; return an error message when it cannot apply."""
    path = value["path"]
    if key == "file":
        content = base64.b64decode(value["content"])
        if content and is_lfs(path):
            return f"{path}: this file must be stored with Git LFS, not in the commit"
        files[path] = content
    elif key == "lfsFile":
        content = lfs.get(value["oid"])
        if content is None or value.get("size", len(content)) != len(content):
            return f"{path}: LFS object {value['oid']} was never uploaded and verified"
        files[path] = content
    elif key == "deletedFile":
        if files.pop(path, None) is None:
            return f"A file with this name doesn't exist: {path}"
    elif key == "deletedFolder":
        for name in [p for p in files if p.startswith(path.rstrip("/") + "/")]:
            del files[name]
    else:
        return f"unsupported commit operation {key!r}"
    return None


def _tree_entries(files: dict[str, bytes], root: str, recursive: bool) -> list[dict]:
    prefix = f"{root}/" if root else ""
    entries: dict[str, dict] = {}
    for path, content in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        for depth in range(1, len(parts)):
            folder = prefix + "/".join(parts[:depth])
            if recursive or depth == 1:
                entries.setdefault(folder, {"type": "directory", "path": folder, "oid": "0" * 40})
            if not recursive:
                break
        if recursive or len(parts) == 1:
            oid = git_blob_id(content)
            entries[path] = {"type": "file", "path": path, "size": len(content), "oid": oid}
            if is_lfs(path):
                pointer = (
                    f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256(content)}"
                )
                pointer += f"\nsize {len(content)}\n"
                entries[path]["oid"] = git_blob_id(pointer.encode())
                entries[path]["lfs"] = {
                    "oid": sha256(content),
                    "size": len(content),
                    "pointerSize": len(pointer),
                }
    return list(entries.values())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects of the Hub

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.hub.handle(self.command, self.path, headers, body)  # type: ignore[attr-defined]
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean; `HubServer.requests` records every call
