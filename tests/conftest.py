"""Shared fixtures. Each example notebook is graded once per test session and shared."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader.execute import ExecOptions
from grader.pipeline import GradeOptions
from grader.pipeline import GradeResult
from grader.pipeline import grade_notebook
from grader.pipeline import needs_rerun
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "submissions" / "examples"
HOSTILE = ROOT / "submissions" / "hostile"
SEED = ROOT.parent / "shared" / "seed" / "handout_as_given.ipynb"


@pytest.fixture(scope="session")
def rubric():
    """Public + hidden rubric, as an interviewer grades."""
    return load_rubric()


@pytest.fixture(scope="session")
def public_rubric():
    return load_rubric(hidden=False)


@pytest.fixture(scope="session")
def graded(tmp_path_factory, rubric):
    """``graded(path)`` grades a notebook once per session (interviewer view) and caches the result."""
    results: dict[Path, GradeResult] = {}
    out_root = tmp_path_factory.mktemp("graded")

    def grade(path: Path) -> GradeResult:
        path = Path(path)
        if path not in results:
            out = out_root / f"{path.parent.name}-{path.stem}"
            opts = GradeOptions(out=out, exec=ExecOptions(isolation="auto", cell_timeout=120, total_timeout=600),
                                use_cache=False, hidden_rerun=needs_rerun(rubric))
            results[path] = grade_notebook(path, rubric, opts)
        return results[path]

    return grade


def notebook(cells: list[tuple[str, str]], path: Path) -> Path:
    """Write a notebook of ``(kind, source)`` cells ('md' or 'code') to ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(s) if k == "md" else nbformat.v4.new_code_cell(s) for k, s in cells]
    nbformat.write(nb, path)
    return path
