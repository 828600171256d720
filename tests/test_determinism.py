"""Grading the same notebook twice, with no cache, gives the same points and statuses."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES
from tests.conftest import grade_fresh

pytestmark = pytest.mark.slow


def _outcome(card):
    return [(c.id, c.status, c.points) for t in card.tasks for c in t.checks], card.points


def test_reference_grades_the_same_twice(graded, rubric, tmp_path):
    first = graded(EXAMPLES / "reference.ipynb").card
    second = grade_fresh(EXAMPLES / "reference.ipynb", tmp_path / "again", rubric).card
    assert _outcome(first) == _outcome(second)
    assert not any("chance" in n for n in first.notes)


def test_unseeded_randomness_is_fixed_and_reported(rubric, tmp_path):
    """No seeds anywhere (split, forest, default_rng): the grader's seeds make two grades agree."""
    a = grade_fresh(EXAMPLES / "unseeded.ipynb", tmp_path / "a", rubric)
    b = grade_fresh(EXAMPLES / "unseeded.ipynb", tmp_path / "b", rubric)
    assert _outcome(a.card) == _outcome(b.card)
    interval = [[r.text for r in x.evidence.run.cells if "interval" in r.text] for x in (a, b)]
    assert interval[0] and interval[0] == interval[1]
    assert any("could depend on chance" in n and "rf" in n for n in a.card.notes)
