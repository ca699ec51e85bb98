"""``sarcolor report``: a self-contained HTML file that a real browser renders, and its Markdown twin."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CHROMIUM_ARGS, tiny_config
from sarcolor.cli.main import main
from sarcolor.training.trainer import train

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-check', JSON.stringify({
    images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    tables: document.querySelectorAll('table').length,
    cells: document.querySelectorAll('td').length,
  }));
});
</script></body>"""


@pytest.fixture(scope="module")
def two_reports(tiny_run: Path, synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    other = train(
        tiny_config(synthetic_v2, seed=5),
        tmp_path_factory.mktemp("r") / "seed5",
        progress=False,
        echo=lambda _: None,
    )
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(tiny_run), str(other.run_dir), "--out", str(out), "--no-progress"]) == 0
    return out


def test_html_is_self_contained(two_reports: Path):
    text = two_reports.read_text()
    assert "<h2>Comparison</h2>" in text and text.count("<table>") >= 3
    sources = re.findall(r'<img src="([^"]{0,40})', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in text and "https://" not in text  # nothing fetched from anywhere
    for needle in ("mean_colour PSNR", "level_lut PSNR", "by scene", "Conventions", "Galleries", "lambda_l1"):
        assert needle in text, needle


def test_markdown_twin_points_at_real_files(two_reports: Path):
    md = two_reports.with_suffix(".md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((two_reports.parent / link).is_file() for link in links)
    assert "| terrain | n | PSNR |" in md


def test_a_browser_renders_the_tables_and_images(two_reports: Path, tmp_path: Path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no Chromium/Chrome on this machine (.ci/run installs Debian's chromium)")
    page = tmp_path / "check.html"
    page.write_text(two_reports.read_text().replace("</body>", CHECK))
    argv = [
        browser,
        *CHROMIUM_ARGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"data-check=\"([^\"]+)\"", dom)
    assert found, dom[:500]
    check = json.loads(found.group(1).replace("&quot;", '"'))
    assert check["images"] >= 4 and check["decoded"] == check["images"], check
    assert check["tables"] >= 3 and check["cells"] > 20, check
