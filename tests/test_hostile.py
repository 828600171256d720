"""Every hostile notebook ends in a normal scorecard, within its timeouts, touching nothing outside."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from grader.execute import ExecOptions
from grader.pipeline import GradeOptions
from grader.pipeline import grade_notebook
from tests.conftest import HOSTILE

pytestmark = pytest.mark.slow
NAMES = sorted(p.stem for p in HOSTILE.glob("*.ipynb"))
CELL_TIMEOUT, GRACE = 3, 3


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, rubric):
    out = tmp_path_factory.mktemp("hostile")
    results = {}
    for name in NAMES:
        opts = GradeOptions(out=out / name, use_cache=False,
                            exec=ExecOptions(isolation="auto", cell_timeout=CELL_TIMEOUT, total_timeout=60,
                                             interrupt_grace=GRACE))
        t0 = time.monotonic()
        results[name] = (grade_notebook(HOSTILE / f"{name}.ipynb", rubric, opts), time.monotonic() - t0)
    return results


@pytest.mark.parametrize("name", NAMES)
def test_scorecard_produced_within_timeouts(hostile, name):
    result, seconds = hostile[name]
    assert (result.out / "scorecard.json").exists() and (result.out / "scorecard.html").exists()
    n_cells = len(result.evidence.run.cells)
    # every cell may use its timeout, plus the interrupt grace, kernel start and the probe
    assert seconds < n_cells * CELL_TIMEOUT + GRACE + 30


def test_nothing_written_outside(hostile):
    tmp = Path(tempfile.gettempdir())
    assert not (tmp / "outside.txt").exists()
    assert not (tmp / "grader_escape_test.txt").exists()
    assert not (HOSTILE / "outside.txt").exists()


@pytest.mark.parametrize("name, failure", [
    ("infinite_loop", "timeout"), ("big_alloc", "memory_limit"), ("os_exit", "dead_kernel"),
    ("swallow_interrupt", "timeout"), ("sys_exit", "candidate_error"),
])
def test_failures_are_classified(hostile, name, failure):
    cells = hostile[name][0].evidence.run.cells
    assert failure in {c.failure for c in cells}


def test_monkeypatch_is_a_finding(hostile):
    card = hostile["monkeypatch"][0].card
    assert "library_patched" in {f.id for f in card.findings}
