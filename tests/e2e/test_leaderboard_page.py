"""The leaderboard page and files, served by ``python -m contest.site.server`` over the demo's day.

The page is read twice: as HTML the server sends, and as a real headless Chromium renders it (Debian's
chromium and chromium-driver, installed when missing), which also saves a screenshot under ``artifacts/``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from bittensor import Wallet

from contest.publish.leaderboard import Leaderboard, read_leaderboard
from contest.publish.signature import sign, verify, verify_file
from contest.site.archive import Archive
from contest.site.page import render_day, score_chart
from tests.support.paths import ROOT

CONTEST = "tiny-sdxl-cpu"
ARTIFACTS = ROOT / "artifacts"


class PageRows(HTMLParser):
    """The rows of each table with an id, and the attributes of each element with a ``data-hotkey``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str | None]]] = {}
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "table":
            self._table = attributes.get("id")
            self.tables.setdefault(self._table or "", [])
        elif tag == "tr" and self._table and "data-hotkey" in attributes:
            self.tables[self._table].append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_page(html: str) -> PageRows:
    parser = PageRows()
    parser.feed(html)
    return parser


def ranks_in_json(leaderboard: dict) -> dict[str, int]:
    return {row["hotkey"]: row["rank"] for row in leaderboard["submissions"] if row["rank"] is not None}


@pytest.fixture(scope="module")
def served(demo: tuple[Path, str]) -> Iterator[str]:
    """The documented command, serving the demo's data folder on a free port; yields its address."""
    data_dir, _ = demo
    server = subprocess.Popen(
        [sys.executable, "-m", "contest.site.server", "--data_dir", str(data_dir), "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        assert line.startswith("serving the leaderboards in"), line
        yield line.rsplit(" at ", 1)[1].strip()
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


def get(url: str) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", parts.path)  # sent as written: no client-side clean-up of '..'
    response = connection.getresponse()
    return response.status, response.getheader("Content-Type", ""), response.read()


def test_the_page_lists_every_submission_with_the_ranks_of_the_json(served: str, leaderboard: dict) -> None:
    status, content_type, body = get(served)
    assert status == 200 and content_type.startswith("text/html")
    page = read_page(body.decode())
    ranked = {row["data-hotkey"]: int(row["data-rank"]) for row in page.tables["ranking"]}
    assert ranked == ranks_in_json(leaderboard) and ranked
    unranked = {row["data-hotkey"]: row["data-kind"] for row in page.tables["invalid"]}
    out = {row["hotkey"]: row["reason_kind"] or "" for row in leaderboard["submissions"] if row["rank"] is None}
    assert unranked == out and all(out.values())  # every row that is out shows its kind
    text = " ".join(page.text)
    for row in leaderboard["submissions"]:
        if row["reason"]:
            assert row["reason"] in text
    assert "signature verified" in text and {"gallery", "history"} <= page.ids


def test_the_json_files_are_served_as_signed(served: str, demo: tuple[Path, str], leaderboard: dict) -> None:
    data_dir, _ = demo
    (path,) = (data_dir / "leaderboards" / CONTEST).glob("*.json")
    for address in (f"leaderboards/{CONTEST}/{path.name}", f"leaderboards/{CONTEST}/latest.json"):
        status, content_type, body = get(served + address)
        assert status == 200 and content_type.startswith("application/json")
        assert body == path.read_bytes()
    assert verify(json.loads(body)) == leaderboard["validator_hotkey"]
    _, _, index = get(served + "leaderboards/index.json")
    (entry,) = json.loads(index)["contests"][CONTEST]
    assert entry["json"] == f"/leaderboards/{CONTEST}/{path.name}" and entry["signature_verified"] is True
    status, _, page = get(served.rstrip("/") + entry["page"])
    assert status == 200 and b'id="ranking"' in page


def test_thumbnails_are_served_and_match_the_signed_hashes(served: str, leaderboard: dict) -> None:
    inputs = leaderboard["thumbnail_inputs"]
    assert len(inputs) == 4 and len(leaderboard["baseline_thumbnails"]) == 4
    measured = [row for row in leaderboard["submissions"] if row["metrics"]]
    assert measured and all(len(row["thumbnails"]) == 4 for row in measured)
    assert all(row["thumbnails"] == [] for row in leaderboard["submissions"] if not row["metrics"])
    everything = leaderboard["baseline_thumbnails"] + [t for row in measured for t in row["thumbnails"]]
    for thumbnail in everything:
        status, content_type, body = get(f"{served}leaderboards/{CONTEST}/{thumbnail['file']}")
        assert status == 200 and content_type == "image/webp"
        assert hashlib.sha256(body).hexdigest() == thumbnail["sha256"]
    by_repository = {row["repository"]: row for row in measured}
    baseline_hashes = [t["sha256"] for t in leaderboard["baseline_thumbnails"]]
    assert [t["sha256"] for t in by_repository["demo/drift"]["thumbnails"]] != baseline_hashes


@pytest.mark.parametrize(
    "address",
    [
        f"leaderboards/{CONTEST}/../../chain.sqlite",
        f"leaderboards/{CONTEST}/%2e%2e/%2e%2e/wallets/validator/hotkeys/default",
        "leaderboards/..%2f..%2fchain.sqlite",
        f"leaderboards/{CONTEST}/missing.json",
        f"days/{CONTEST}/1999-01-01-1",
        "contests/no-such-contest",
        "anything/else",
    ],
)
def test_nothing_outside_the_published_files_is_served(served: str, address: str) -> None:
    status, _, body = get(served + address)
    assert status == 404 and b"not found" in body


def resigned(
    leaderboard: Leaderboard, wallet: Wallet, day: str, block: int, scores: dict[str, float | None]
) -> Leaderboard:
    """Another day of the same validator: ``scores`` sets miners' scores (None: invalid that day)."""
    rows = []
    for row in leaderboard.submissions:
        if row.hotkey in scores:
            score = scores[row.hotkey]
            row = row.model_copy(
                update={"score": score, "valid": score is not None, "rank": row.rank if score is not None else None}
            )
        rows.append(row)
    update = {"day": day, "opening_block": block, "opened_at": f"{day}T17:00:00+00:00", "submissions": rows}
    return sign(leaderboard.model_copy(update={**update, "signature": None}), wallet)


@pytest.fixture
def three_days(demo: tuple[Path, str], tmp_path: Path) -> tuple[Archive, dict[str, str]]:
    """The demo's day and two earlier ones, all signed by the demo's validator, in an archive of their own."""
    data_dir, _ = demo
    root = tmp_path / "leaderboards"
    shutil.copytree(data_dir / "leaderboards", root)
    (path,) = (root / CONTEST).glob("*.json")
    today = read_leaderboard(path)
    wallet = Wallet(name="validator", hotkey="default", path=str(data_dir / "wallets"))
    miners = {row.repository: row.hotkey for row in today.submissions}
    onnx, plain = miners["demo/onnx-unet"], miners["demo/baseline"]
    for day, block, scores in (("2026-01-01", 1, {onnx: 0.1, plain: None}), ("2026-01-02", 2, {onnx: 0.2, plain: 0.0})):
        earlier = resigned(today, wallet, day, block, scores)
        (root / CONTEST / f"{day}-{block}.json").write_text(earlier.model_dump_json(indent=2))
    return Archive(root), miners


def test_the_chart_follows_each_miner_across_days(three_days: tuple[Archive, dict[str, str]]) -> None:
    archive, miners = three_days
    days = archive.days(CONTEST)
    assert [day.leaderboard.day for day in days] == ["2026-01-01", "2026-01-02", days[-1].leaderboard.day]
    chart = score_chart(days)
    series = {line.hotkey: line for line in chart.series}
    assert set(series) == {miners["demo/onnx-unet"], miners["demo/baseline"]}
    onnx = series[miners["demo/onnx-unet"]].points
    assert [point.day for point in onnx] == [day.leaderboard.day for day in days]
    assert [point.score for point in onnx][:2] == [0.1, 0.2]
    assert onnx[0].x < onnx[1].x < onnx[2].x and onnx[0].y > onnx[1].y  # later to the right, higher above
    # invalid on the first day and on the demo's (the unmodified baseline): no point there
    assert [point.day for point in series[miners["demo/baseline"]].points] == ["2026-01-02"]
    html = render_day(days[-1], days, archive.contests())
    assert html.count("<polyline") == 2 and html.count("<circle") == 4


def test_a_changed_file_is_shown_as_not_verified(three_days: tuple[Archive, dict[str, str]]) -> None:
    archive, _ = three_days
    path = archive.days(CONTEST)[0].path
    document = json.loads(path.read_text())
    document["submissions"][0]["weight"] = 0.123
    path.write_text(json.dumps(document))
    (changed,) = [day for day in archive.days(CONTEST) if day.path == path]
    assert "does not match" in changed.signature_problem
    html = render_day(changed, archive.days(CONTEST), archive.contests())
    assert "signature does not verify" in html and "signature verified" not in html


def test_a_changed_thumbnail_fails_the_check_of_its_leaderboard(three_days: tuple[Archive, dict[str, str]]) -> None:
    archive, _ = three_days
    latest = archive.latest(CONTEST)
    assert latest.signature_problem is None
    thumbnail = latest.leaderboard.submissions[0].thumbnails[2]
    picture = latest.path.parent / thumbnail.file
    picture.write_bytes(picture.read_bytes() + b"\0")
    checked = subprocess.run(
        [sys.executable, "-m", "contest.publish.signature", str(latest.path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert checked.returncode == 1
    assert checked.stdout.strip().endswith(f"the thumbnail {thumbnail.file} is not the one signed")
    assert thumbnail.file in Archive(archive.root).latest(CONTEST).signature_problem
    picture.unlink()  # a leaderboard without its pictures is still whole
    assert verify_file(latest.path) == latest.leaderboard.validator_hotkey


def test_an_empty_data_folder_serves_a_page_that_says_so(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "contest.site.server", "--data_dir", str(tmp_path), "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        address = server.stdout.readline().rsplit(" at ", 1)[1].strip()
        with urlopen(address, timeout=30) as response:
            assert "No leaderboard has been published" in response.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)


def chromium_paths() -> tuple[str, str]:
    """Debian's chromium and its driver, installed with apt-get when missing (skips where that cannot work)."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if all(found):
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("chromium is missing and cannot be installed here: that needs apt-get, as root")
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run = subprocess.run(install, capture_output=True, text=True, timeout=900, env=environment, check=False)
    if run.returncode != 0:  # the package lists may be missing or stale
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=600, env=environment, check=False)
        run = subprocess.run(install, capture_output=True, text=True, timeout=900, env=environment, check=False)
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if not all(found):
        pytest.skip(f"chromium cannot be installed here: {(run.stderr or run.stdout).strip()[-300:]}")
    return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    binary, driver_path = chromium_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.host_tool
def test_chromium_renders_the_table_and_the_pictures(browser, served: str, leaderboard: dict) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(served)
    rows = browser.find_elements(By.CSS_SELECTOR, "#ranking tbody tr[data-hotkey]")
    shown = {row.get_attribute("data-hotkey"): int(row.find_element(By.CSS_SELECTOR, "td.rank").text) for row in rows}
    assert shown == ranks_in_json(leaderboard)
    out = browser.find_elements(By.CSS_SELECTOR, "#invalid tbody tr")
    assert len(out) == sum(row["rank"] is None for row in leaderboard["submissions"])
    assert browser.find_element(By.ID, "signature").text == "signature verified"

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, height + 120)  # everything in view: lazy pictures load, the screenshot is whole
    browser.execute_script("document.getElementById('gallery').scrollIntoView()")
    loaded = "return [...document.querySelectorAll('#gallery img')].map(i => i.complete && i.naturalWidth > 0 ? 1 : 0)"
    WebDriverWait(browser, 30).until(lambda driver: all(driver.execute_script(loaded)))
    pictures = len(leaderboard["baseline_thumbnails"]) + sum(
        len(row["thumbnails"]) for row in leaderboard["submissions"]
    )
    assert len(browser.execute_script(loaded)) == pictures
    width = browser.execute_script("return document.querySelector('#gallery img').getBoundingClientRect().width")
    assert width > 64  # shown as thumbnails, not as broken-image icons
    lines = browser.find_elements(By.CSS_SELECTOR, "#history g.series")
    assert {line.get_attribute("data-hotkey") for line in lines} == set(ranks_in_json(leaderboard))

    browser.execute_script("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "leaderboard-page.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
