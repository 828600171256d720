"""The hidden-data re-run: the same notebook on a variant of the data (interviewers only).

The variant has the test's schema but another seed, a few percent of missing
``time_spent`` values, some extreme outliers and a shuffled row order. The candidate's
own data cell still runs; right after it, the grader overwrites ``facebook_data.csv``
with the variant, so every later ``read_csv`` sees data the candidate never saw.
"""

from __future__ import annotations

import copy
import csv
import io
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import nbformat
import numpy as np

from grader import dataset

VARIANT_SEED = 2026
MISSING_SHARE = 0.03
OUTLIER_SHARE = 0.005
VARIANT_FILE = ".variant_data.csv"
_SWAP = (f"\nimport shutil as _grader_shutil\n_grader_shutil.copyfile({VARIANT_FILE!r}, 'facebook_data.csv')\n"
         "del _grader_shutil\n")


def variant_sessions(seed: int = VARIANT_SEED) -> tuple[dataset.Sessions, np.ndarray]:
    """The variant's rows in session_id order, and the shuffled order they are written in."""
    base = dataset.generate(seed)
    rng = np.random.RandomState(seed + 1)
    n = len(base.session_id)
    time_spent = base.time_spent.astype(float).copy()
    missing = rng.choice(n, int(n * MISSING_SHARE), replace=False)
    time_spent[missing] = np.nan
    rest = np.setdiff1d(np.arange(n), missing)
    outliers = rng.choice(rest, max(1, int(n * OUTLIER_SHARE)), replace=False)
    time_spent[outliers] = np.round(rng.uniform(20_000, 90_000, len(outliers)), 1)
    return replace(base, time_spent=time_spent), rng.permutation(n)


def variant_csv(data: dataset.Sessions, order: np.ndarray) -> str:
    base = datetime(2023, 1, 1)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(dataset.SOURCE_COLUMNS)
    for i in order:
        ts = base + timedelta(days=int(data.day[i]), seconds=int(data.second[i]))
        spent = "" if np.isnan(data.time_spent[i]) else f"{data.time_spent[i]:.1f}"
        w.writerow([int(data.session_id[i]), int(data.user_id[i]), ts.strftime("%Y-%m-%d %H:%M:%S"),
                    data.device_type[i], data.action[i], spent, data.content_category[i],
                    int(data.engagement[i])])
    return buf.getvalue()


def prepare(nb: nbformat.NotebookNode, data_cell: int, workdir: Path) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose data cell also swaps in the variant, which is written to ``workdir``."""
    data, order = variant_sessions()
    (workdir / VARIANT_FILE).write_text(variant_csv(data, order), encoding="utf-8")
    variant = copy.deepcopy(nb)
    variant.cells[data_cell].source = variant.cells[data_cell].source + _SWAP
    return variant


def plausible(data: dataset.Sessions) -> np.ndarray:
    """Rows whose time_spent can be used to check identity (not missing, not an outlier), shape (n,)."""
    t = data.time_spent
    return np.isfinite(t) & (t >= 10) & (t <= 600)
