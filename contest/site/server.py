"""Serve the published leaderboards: an HTML page per contest day, and the signed JSON files themselves.

    poetry run python -m contest.site.server --data_dir data [--host 127.0.0.1] [--port 8090]

Routes (all GET or HEAD):
    /                                   the newest day of any contest
    /contests/{contest}                 the contest's newest day
    /days/{contest}/{name}              one day ({name} is its file name without .json)
    /leaderboards/index.json            every published day, with the addresses of its JSON and page
    /leaderboards/{contest}/latest.json the contest's newest leaderboard, byte for byte as signed
    /leaderboards/{contest}/{file}      a leaderboard (.json) or a thumbnail it lists (.webp)
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from base.commandline import absolute_path
from contest.publish.leaderboard import leaderboards_root
from contest.site.archive import Archive, PublishedDay
from contest.site.page import day_url, file_url, render_day, render_empty

log = logging.getLogger(__name__)
DEFAULT_PORT = 8090
CONTENT_TYPES = {".json": "application/json", ".webp": "image/webp"}


class LeaderboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], archive: Archive) -> None:
        super().__init__(address, LeaderboardHandler)
        self.archive = archive

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}/"


class LeaderboardHandler(BaseHTTPRequestHandler):
    server: LeaderboardServer
    server_version = "edge-contest"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _respond(self, send_body: bool) -> None:
        parts = [unquote(part) for part in urlsplit(self.path).path.split("/") if part]
        try:
            status, content_type, body = self._route(parts)
        except FileNotFoundError as error:
            status, content_type, body = HTTPStatus.NOT_FOUND, "text/plain", f"not found: {error}\n".encode()
        self.send_response(status)
        textual = content_type.startswith("text/") or content_type == "application/json"
        self.send_header("Content-Type", f"{content_type}; charset=utf-8" if textual else content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _route(self, parts: list[str]) -> tuple[HTTPStatus, str, bytes]:
        archive = self.server.archive
        match parts:
            case []:
                latest = archive.latest()
                if latest is None:
                    return HTTPStatus.OK, "text/html", render_empty(str(archive.root)).encode()
                return self._page(latest)
            case ["contests", contest]:
                return self._page(_found(archive.latest(contest), f"no leaderboard of contest {contest!r}"))
            case ["days", contest, name]:
                return self._page(_found(archive.day(contest, name), f"no day {name!r} in contest {contest!r}"))
            case ["leaderboards", "index.json"]:
                return HTTPStatus.OK, "application/json", json.dumps(_index(archive), indent=2).encode()
            case ["leaderboards", contest, "latest.json"]:
                latest = _found(archive.latest(contest), f"no leaderboard of contest {contest!r}")
                return HTTPStatus.OK, "application/json", latest.path.read_bytes()
            case ["leaderboards", contest, *rest] if rest:
                path = _published_file(archive.root, [contest, *rest])
                return HTTPStatus.OK, CONTENT_TYPES[path.suffix], path.read_bytes()
        raise FileNotFoundError(urlsplit(self.path).path)

    def _page(self, day: PublishedDay) -> tuple[HTTPStatus, str, bytes]:
        archive = self.server.archive
        html = render_day(day, archive.days(day.contest), archive.contests())
        return HTTPStatus.OK, "text/html", html.encode()


def _found(day: PublishedDay | None, message: str) -> PublishedDay:
    if day is None:
        raise FileNotFoundError(message)
    return day


def _published_file(root: Path, parts: Sequence[str]) -> Path:
    """A leaderboard or thumbnail under ``root``; nothing else, and nothing outside it."""
    path = root.joinpath(*parts).resolve()
    inside = path.is_relative_to(root.resolve()) and not any(part.startswith(".") for part in parts)
    if not inside or path.suffix not in CONTENT_TYPES or not path.is_file():
        raise FileNotFoundError("/".join(parts))
    return path


def _index(archive: Archive) -> dict:
    return {
        "contests": {
            contest: [
                {
                    "day": day.leaderboard.day,
                    "opening_block": day.leaderboard.opening_block,
                    "validator_hotkey": day.leaderboard.validator_hotkey,
                    "signature_verified": day.signature_problem is None,
                    "json": file_url(day),
                    "page": day_url(day),
                }
                for day in archive.days(contest)
            ]
            for contest in archive.contests()
        }
    }


def _stop(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contest.site.server", description="Serve the leaderboard page.")
    parser.add_argument("--data_dir", type=absolute_path, default="data", help="the validator's (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = leaderboards_root(args.data_dir)
    try:
        server = LeaderboardServer((args.host, args.port), Archive(root))
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error.strerror or error}", flush=True)
        return 1
    # Both stop it, SIGINT too: a process started in the background inherits SIGINT ignored (PM2's `stop`).
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"serving the leaderboards in {root} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
