"""Hugging Face-compatible servers on 127.0.0.1 for the store tests.

``olah`` (from PyPI, installed by ``make setup`` into its own environment under ``.tools/olah``) serves
local git repositories to the real ``huggingface_hub`` client: model info, trees, commits and file
downloads. It has no upload endpoint, so ``UploadHub`` stands in front of it: it answers the upload
API (create repo, preupload, commit) by committing into the git repositories olah serves, records
every request, and passes every other request through to olah, cutting file downloads half-way when
a test asks it to.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from base.stores import HuggingFaceStore
from tests.support.paths import ROOT

OLAH = ROOT / ".tools" / "olah" / "bin" / "olah-cli"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"olah exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"olah did not listen on {port} within {timeout_s} s:\n{log.read_text()[-2000:]}")


@contextmanager
def olah_mirror(root: Path) -> Iterator[tuple[str, Path]]:
    """Start olah serving the git repositories under ``root/mirrors/models/<owner>/<name>``; yields (url, mirrors)."""
    if not OLAH.exists():
        raise RuntimeError(f"{OLAH} is missing: `make setup` installs olah for the store tests")
    mirrors = root / "mirrors"
    (mirrors / "models").mkdir(parents=True, exist_ok=True)
    port = free_port()
    unused = free_port()  # the upstream olah would proxy to: nothing listens there, so nothing leaves the machine
    config = root / "olah.toml"
    config.write_text(
        "[basic]\n"
        f'host = "127.0.0.1"\nport = {port}\n'
        f'repos-path = "{root / "olah-cache"}"\nmirrors-path = ["{mirrors}"]\n'
        f'hf-scheme = "http"\nhf-netloc = "127.0.0.1:{unused}"\nhf-lfs-netloc = "127.0.0.1:{unused}"\n'
        "[accessibility]\noffline = true\n"
    )
    log = root / "olah.log"
    with log.open("w") as output:
        process = subprocess.Popen([str(OLAH), "-c", str(config)], cwd=root, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}", mirrors
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _git(repo: Path, *args: str) -> str:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "hub", "GIT_AUTHOR_EMAIL": "hub@127.0.0.1"}
    environment |= {"GIT_COMMITTER_NAME": "hub", "GIT_COMMITTER_EMAIL": "hub@127.0.0.1"}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=environment, check=True)
    return done.stdout.strip()


@dataclass
class RecordedRequest:
    method: str
    path: str
    authorization: str | None
    body_bytes: int


@dataclass
class UploadHub:
    mirrors: Path
    upstream: str
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""
    cut_downloads: int = 0  # the next N file downloads stop part-way and the connection drops
    cut_keeps: float = 0.5  # the share of its bytes a cut download delivers first
    private: set[str] = field(default_factory=set)  # repositories only a request with a token can read

    def push_public(self, folder: Path, repo_id: str, message: str) -> str:
        """Push ``folder`` as a miner does and publish it at once: a repository anyone can fetch."""
        miner = HuggingFaceStore(self.url, token="hf_test")
        revision = miner.push(folder, repo_id, message)
        miner.publish(repo_id)
        return revision

    def repository(self, repo_id: str) -> Path:
        return self.mirrors / "models" / repo_id

    def create(self, repo_id: str) -> bool:
        """Create ``repo_id`` the way the Hub does (an initial commit with ``.gitattributes``); False if it exists."""
        repo = self.repository(repo_id)
        if repo.exists():
            return False
        repo.mkdir(parents=True)
        _git(repo, "init", "--quiet", "--initial-branch=main")
        (repo / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
        _git(repo, "add", ".gitattributes")
        _git(repo, "commit", "--quiet", "-m", "initial commit")
        return True

    def commit(self, repo_id: str, lines: list[dict]) -> str:
        repo = self.repository(repo_id)
        header = next(line["value"] for line in lines if line["key"] == "header")
        for line in lines:
            path = repo / line["value"].get("path", "")
            if line["key"] == "file":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(line["value"]["content"]))
            elif line["key"] == "deletedFile":
                path.unlink()
            elif line["key"] == "deletedFolder":
                shutil.rmtree(path)
            elif line["key"] != "header":
                raise ValueError(f"this hub takes regular files only, not {line['key']}")
        _git(repo, "add", "--all")
        _git(repo, "commit", "--quiet", "--allow-empty", "-m", header["summary"])
        return _git(repo, "rev-parse", "HEAD")


def _handler(hub: UploadHub) -> type[BaseHTTPRequestHandler]:
    upstream = hub.upstream.removeprefix("http://")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:
            return None

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _record(self, body: bytes) -> None:
            hub.requests.append(RecordedRequest(self.command, self.path, self.headers.get("Authorization"), len(body)))

        def _json(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self._body()
            self._record(body)
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:3] == ["api", "repos", "create"]:
                request = json.loads(body)
                owner = request.get("organization")
                repo_id = f"{owner}/{request['name']}" if owner else request["name"]
                created = hub.create(repo_id)
                if created and request.get("visibility", "public") == "private":
                    hub.private.add(repo_id)
                self._json(200 if created else 409, {"url": f"{hub.url}/{repo_id}", "error": "already exists"})
            elif parts[:2] == ["api", "models"] and parts[-2] == "preupload":
                files = json.loads(body)["files"]
                modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                self._json(200, {"files": modes})
            elif parts[:2] == ["api", "models"] and parts[-2] == "commit":
                repo_id = "/".join(parts[2:-2])
                if not hub.repository(repo_id).exists():
                    self._json(404, {"error": "Repository not found"})
                    return
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                oid = hub.commit(repo_id, lines)
                self._json(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{oid}", "commitOid": oid})
            else:
                self._json(404, {"error": f"no upload endpoint {self.path}"})

        def do_PUT(self) -> None:
            body = self._body()
            self._record(body)
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:2] == ["api", "models"] and parts[-1] == "settings":
                repo_id = "/".join(parts[2:-1])
                visibility = json.loads(body).get("visibility")
                if visibility == "private":
                    hub.private.add(repo_id)
                elif visibility == "public":
                    hub.private.discard(repo_id)
                self._json(200, {})
            else:
                self._json(404, {"error": f"no settings endpoint {self.path}"})

        def _hidden(self) -> bool:
            """A private repository, asked for without a token: the Hub answers as if it did not exist."""
            parts = self.path.split("?")[0].strip("/").split("/")
            repo_id = "/".join(parts[2:4] if parts[:2] == ["api", "models"] else parts[:2])
            return repo_id in hub.private and self.headers.get("Authorization") is None

        def _pass_through(self) -> None:
            self._record(b"")
            if self._hidden():
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            connection = http.client.HTTPConnection(upstream, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
            connection.request(self.command, self.path, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value.replace(hub.upstream, hub.url))
            # A HEAD answer has no body but announces the length a GET would send.
            length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if self.command == "GET" and "/resolve/" in self.path and hub.cut_downloads > 0:
                hub.cut_downloads -= 1
                self.wfile.write(data[: int(len(data) * hub.cut_keeps)])
                self.close_connection = True
            elif self.command != "HEAD":
                self.wfile.write(data)
            connection.close()

        do_GET = _pass_through
        do_HEAD = _pass_through

    return Handler


@contextmanager
def upload_hub(mirrors: Path, upstream: str) -> Iterator[UploadHub]:
    hub = UploadHub(mirrors, upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
