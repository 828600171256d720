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
    """Public + hidden rubric, as an interviewer grades (named explicitly: no test's env var can swap it)."""
    return load_rubric(ROOT / "rubrics" / "staff-ds.yaml", hidden=ROOT / "rubrics" / "staff-ds.hidden.yaml")


@pytest.fixture(scope="session")
def public_rubric():
    return load_rubric(ROOT / "rubrics" / "staff-ds.yaml", hidden=False)


@pytest.fixture(scope="session")
def graded(tmp_path_factory, rubric):
    """``graded(path, rerun=False)`` grades a notebook once per session (interviewer view), cached.

    ``rerun=True`` adds the hidden-data re-run (a second kernel), as ``grade`` does for
    interviewers; most tests leave it off to keep the suite fast.
    """
    results: dict[tuple[Path, bool], GradeResult] = {}
    out_root = tmp_path_factory.mktemp("graded")

    def grade(path: Path, rerun: bool = False) -> GradeResult:
        key = (Path(path), rerun)
        if key not in results:
            out = out_root / f"{key[0].parent.name}-{key[0].stem}{'-rerun' if rerun else ''}"
            results[key] = grade_fresh(key[0], out, rubric, rerun=rerun and needs_rerun(rubric))
        return results[key]

    return grade


def grade_fresh(path: Path, out: Path, rubric, rerun: bool = False) -> GradeResult:
    """Grade ``path`` into ``out`` with no cache, as the tests' standard interviewer run."""
    opts = GradeOptions(out=out, exec=ExecOptions(isolation="auto", cell_timeout=120, total_timeout=600),
                        use_cache=False, hidden_rerun=rerun)
    return grade_notebook(path, rubric, opts)


def notebook(cells: list[tuple[str, str]], path: Path) -> Path:
    """Write a notebook of ``(kind, source)`` cells ('md' or 'code') to ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(s) if k == "md" else nbformat.v4.new_code_cell(s) for k, s in cells]
    nbformat.write(nb, path)
    return path
