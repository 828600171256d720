"""Rows that cannot be matched to the grader's data are called unverifiable, never guessed."""

from __future__ import annotations

import nbformat
import pytest

from tests.conftest import ROOT
from tests.conftest import notebook

pytestmark = pytest.mark.slow

DATA_CELL = next(c.source for c in nbformat.read(ROOT / "reference" / "solution.ipynb", 4).cells
                 if "data-generation" in c.metadata.get("tags", []))

MODEL = """
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

df = pd.read_csv('facebook_data.csv')
X = pd.get_dummies(df[['action', 'device_type']], dtype=int).to_numpy()   # a bare array: no index
y = df['engagement'].to_numpy()
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0)
model = LogisticRegression().fit(X_tr, y_tr)
print('ROC AUC:', round(roc_auc_score(y_te, model.predict_proba(X_te)[:, 1]), 4))
"""


def test_bare_arrays_are_unverifiable(graded, tmp_path):
    path = notebook([("code", DATA_CELL), ("md", "## Task 4: Model"), ("code", MODEL)], tmp_path / "arrays.ipynb")
    result = graded(path)
    model = next(e for e in result.evidence.evals if e.name == "model")
    assert not model.verified and model.labels_source == "candidate" and model.ceiling_auc is None
    assert "unverifiable" in model.note
    auc = next(c for t in result.card.tasks for c in t.checks if c.id == "t4_auc")
    assert "unverifiable" in auc.message
    # the printed AUC is not called a mismatch: nothing verified to compare against
    assert "printed_metrics_mismatch" not in {f.id for f in result.card.findings}
    assert "auc_above_ceiling" not in {f.id for f in result.card.findings}
