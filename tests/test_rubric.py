"""Rubric schema: shipped rubrics validate; bad ones fail with the file, the line and the key."""

from __future__ import annotations

import pytest

from grader.checks import REGISTRY
from grader.exceptions import RubricError
from grader.rubric import load_rubric
from grader.rubric import parse_rubric
from tests.conftest import ROOT

PUBLIC = ROOT / "rubrics" / "staff-ds.yaml"
HIDDEN = ROOT / "rubrics" / "staff-ds.hidden.yaml"


def test_shipped_rubrics_validate():
    public = parse_rubric(PUBLIC)
    merged = load_rubric(PUBLIC, hidden=HIDDEN)
    assert {t.id for t in public.tasks} == {1, 2, 3, 4, 5, 6}
    assert all(c.visibility == "public" for _, c in public.checks())
    assert merged.hidden_included and merged.max_points() > public.max_points()
    hidden_ids = {c.id for _, c in merged.checks()} - {c.id for _, c in public.checks()}
    assert hidden_ids and all(c.visibility == "hidden" for _, c in merged.checks() if c.id in hidden_ids)


def test_every_check_function_is_used_or_known():
    used = {c.check for _, c in load_rubric(PUBLIC, hidden=HIDDEN).checks()}
    assert used <= set(REGISTRY)


def test_candidate_load_never_merges_hidden():
    assert not load_rubric(PUBLIC, hidden=False).hidden_included


def _write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_error_names_line_and_key(tmp_path):
    path = _write(tmp_path, "name: r\nversion: '1'\ntasks:\n  - id: 1\n    checks:\n      - id: a\n        title: A\n"
                            "        check: data_loaded\n        points: -3\n")
    with pytest.raises(RubricError) as err:
        parse_rubric(path)
    assert f"{path}:9:" in str(err.value) and "tasks[0].checks[0].points" in str(err.value)


@pytest.mark.parametrize("body, message", [
    ("name: r\nversion: '1'\ntasks: [{id: 1, checks: [{id: a, title: A, check: nope, points: 1}]}]\n",
     "unknown check function 'nope'"),
    ("name: r\nversion: '1'\ntasks: [{id: 9}]\n", "tasks[0].id"),
    ("name: r\nversion: '1'\ntasks: []\nbogus: 1\n", "bogus"),
    ("name: r\ntasks: [\n", "not valid YAML"),
    ("- a\n- b\n", "must be a mapping"),
    ("name: r\nversion: '1'\ntasks: [{id: 1, checks: [{id: a, title: A, check: data_loaded, points: 1},"
     " {id: a, title: B, check: data_loaded, points: 1}]}]\n", "appears twice"),
])
def test_bad_rubrics(tmp_path, body, message):
    with pytest.raises(RubricError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_rubric(_write(tmp_path, body))


def test_hidden_may_not_replace_public(tmp_path):
    hidden = tmp_path / "h.yaml"
    hidden.write_text(f"name: h\nversion: '1'\nextends: {PUBLIC}\ntasks: [{{id: 1, checks: [{{id: t1_data_loaded, "
                      "title: X, check: data_loaded, points: 9, visibility: hidden}]}]\n")
    with pytest.raises(RubricError, match="may only add checks"):
        load_rubric(hidden)
