"""Integrity findings: each is raised by the example built to trip it, and only there.

Also justifies the margin of ``auc_above_ceiling`` by measuring how far an honest model
edges past the Bayes ceiling on random 300-row test sets.
"""

from __future__ import annotations

import numpy as np
import pytest

from grader import dataset
from grader.rubric import load_rubric
from tests.conftest import EXAMPLES
from tests.conftest import SEED

EXPECTED = {
    "fake_metrics": {"printed_metrics_mismatch"},
    "fit_on_all_rows": {"test_rows_in_training", "auc_above_ceiling"},
    "target_leak": {"auc_above_ceiling"},
    "patched_metrics": {"library_patched", "printed_metrics_mismatch"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_trips_its_findings(graded, name):
    card = graded(EXAMPLES / f"{name}.ipynb").card
    assert {f.id for f in card.findings} == EXPECTED[name]
    # each finding costs its penalty once, never silently
    assert card.penalties == sum({f.id: f.penalty for f in card.findings if f.penalty}.values()) > 0


@pytest.mark.slow
@pytest.mark.skipif(not SEED.exists(), reason="../shared/seed/handout_as_given.ipynb is not beside the checkout")
def test_handout_as_given_flags_copied_answers(graded):
    card = graded(SEED).card
    assert "answers_match_handout_samples" in {f.id for f in card.findings}


@pytest.mark.slow
def test_margin_covers_honest_models():
    """Over 20 random 80/20 splits, an honest forest never beats the ceiling by the rubric's margin.

    Measured here: excesses from -0.009 to +0.015 (the seed-42 split gives +0.004),
    so a margin of 0.02 does not flag honest work while AUC 1.0 (target in the
    features, or test rows seen at fit) is flagged by a wide gap.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    margin = load_rubric().findings["auc_above_ceiling"].params["margin"]
    d = dataset.reference()
    onehot = np.column_stack([d.action == a for a in dataset.ACTIONS] + [d.device_type == v for v in dataset.DEVICES]
                             + [d.content_category == c for c in dataset.CATEGORIES]
                             + [d.time_spent, d.second // 3600, d.day % 7]).astype(float)
    excess = []
    for seed in range(20):
        tr, te = train_test_split(np.arange(len(d.engagement)), test_size=0.2, random_state=seed)
        model = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1).fit(onehot[tr], d.engagement[tr])
        auc = roc_auc_score(d.engagement[te], model.predict_proba(onehot[te])[:, 1])
        excess.append(auc - dataset.ceiling_auc(te))
    assert max(excess) < margin
    assert max(excess) > -0.05  # the forest is close to the ceiling: the simulation is meaningful


def test_ceiling_facts():
    """The ceilings of interview-test.md: 0.959 on all rows, 0.9645 on the seed-42 test split."""
    from sklearn.model_selection import train_test_split

    assert dataset.ceiling_auc(np.arange(1500)) == pytest.approx(0.959, abs=5e-4)
    _, te = train_test_split(np.arange(1500), test_size=0.2, random_state=42)
    assert dataset.ceiling_auc(te) == pytest.approx(0.9645, abs=5e-5)
    assert dataset.ceiling_auc(te, uses_action=False) == 0.5


def test_generator_facts():
    d = dataset.reference()
    assert int(d.engagement.sum()) == 794 and len(set(d.user_id.tolist())) == 755
    assert (d.time_spent.min(), d.time_spent.max()) == (10.4, 599.9)
    assert int(((d.action == "view") & (d.engagement == 1)).sum()) == 65
