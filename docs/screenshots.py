"""Make the screenshots in docs/: the reference's scorecard, interviewer and candidate views.

Usage::

    python docs/screenshots.py                  # grade the reference notebook, then shoot
    python docs/screenshots.py --from OUT_DIR   # reuse a folder `grade` already wrote

Needs Playwright's Python package and the system Chromium (/usr/bin/chromium). The
screenshots show the top of each page (header, findings, the first tasks) at 1100 px.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = {"scorecard.html": "scorecard-interviewer.png", "scorecard.candidate.html": "scorecard-candidate.png"}
WIDTH = 1100
HEIGHT = 1500


def grade_reference(out: Path) -> Path:
    """Grade the reference notebook into ``out`` (rlimits only, like a laptop run)."""
    from grader.execute import ExecOptions
    from grader.pipeline import GradeOptions
    from grader.pipeline import grade_notebook
    from grader.rubric import load_rubric

    opts = GradeOptions(out=out, exec=ExecOptions(isolation="limits"), use_cache=False)
    grade_notebook(ROOT / "submissions" / "examples" / "reference.ipynb", load_rubric(), opts)
    return out


def shoot(folder: Path, dest: Path) -> list[Path]:
    """Screenshot both views found in ``folder`` into ``dest``."""
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            for page_name, png in SHOTS.items():
                page.goto((folder / page_name).resolve().as_uri(), wait_until="load")
                target = dest / png
                page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT})
                written.append(target)
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="folder", type=Path, help="a grade output folder to reuse")
    parser.add_argument("--dest", type=Path, default=ROOT / "docs", help="where the PNGs go (default docs/)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        # Grade first, then start the browser: Playwright's sync API holds an event loop
        # in this thread, and the kernel client needs its own.
        folder = args.folder or grade_reference(Path(tmp) / "reference")
        for path in shoot(folder, args.dest):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
