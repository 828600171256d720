"""Where shipped files live: the checkout's top-level folders, or the installed package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def shipped(folder: str, name: str) -> Path:
    """``<repo>/<folder>/<name>`` in a checkout, else the copy installed as ``grader.<folder>``."""
    local = _REPO / folder / name
    if local.exists():
        return local
    return Path(str(resources.files(f"grader.{folder}").joinpath(name)))


def template_dir() -> Path:
    return shipped("templates", "scorecard.html.j2").parent
