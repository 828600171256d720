"""The grader's own copy of the test's data, and the Bayes-optimal ceiling on any rows.

The draws (numpy's legacy global RNG, seed 42) and their order are fixed by the test;
true labels for a candidate's held-out rows always come from here, never from the
candidate's own ``y_test`` (DESIGN decision 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

N_ROWS = 1500
DEVICES = ["Desktop", "Mobile", "Tablet"]
ACTIONS = ["view", "like", "comment", "share", "post"]
CATEGORIES = ["news", "entertainment", "sports", "technology", "lifestyle"]
SOURCE_COLUMNS = ["session_id", "user_id", "timestamp", "device_type", "action", "time_spent",
                  "content_category", "engagement"]
VIEW_ENGAGE_P = 0.1


@dataclass(frozen=True)
class Sessions:
    """Column arrays of the session log, each of shape (n_rows,)."""

    session_id: np.ndarray
    user_id: np.ndarray
    day: np.ndarray
    second: np.ndarray
    device_type: np.ndarray
    action: np.ndarray
    time_spent: np.ndarray
    content_category: np.ndarray
    engagement: np.ndarray


def generate(seed: int = 42, n: int = N_ROWS) -> Sessions:
    """Draw the session log exactly as the test's generator does, with its own RNG state."""
    rng = np.random.RandomState(seed)
    user_id = rng.randint(1, 1000, size=n)
    day = rng.randint(0, 365, size=n)
    second = rng.randint(0, 86400, size=n)
    device = rng.choice(DEVICES, size=n, p=[0.4, 0.5, 0.1])
    action = rng.choice(ACTIONS, size=n, p=[0.5, 0.2, 0.1, 0.1, 0.1])
    time_spent = np.round(rng.uniform(10, 600, size=n), 1)
    category = rng.choice(CATEGORIES, size=n)
    # one rand() per view, in row order; other actions always engage and draw nothing
    engagement = np.array([1 if a != "view" else int(rng.rand() < VIEW_ENGAGE_P) for a in action])
    return Sessions(np.arange(1, n + 1), user_id, day, second, device, action, time_spent, category, engagement)


@lru_cache(maxsize=4)
def reference(seed: int = 42) -> Sessions:
    """The canonical data (cached: it never changes within a process)."""
    return generate(seed)


def bayes_scores(action: np.ndarray, uses_action: bool = True) -> np.ndarray:
    """P(engaged | features) under the true generating process, shape (n,).

    With ``action`` among the features the posterior is 1 for non-view actions and 0.1
    for views; without it no feature carries signal and every row gets the same score.
    """
    if not uses_action:
        return np.full(len(action), 0.5)
    return np.where(action == "view", VIEW_ENGAGE_P, 1.0)


def ceiling_auc(rows: np.ndarray, uses_action: bool = True, data: Sessions | None = None) -> float | None:
    """Bayes-optimal ROC AUC on the rows at positions ``rows`` (0-based) of ``data``.

    Returns None when the rows hold a single class (AUC undefined).
    """
    from sklearn.metrics import roc_auc_score

    data = data or reference()
    y = data.engagement[rows]
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, bayes_scores(data.action[rows], uses_action)))
