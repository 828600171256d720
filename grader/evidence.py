"""Turn a run and the probe's facts into Evidence, in the grader's own process.

Here the grader recomputes every metric itself from the model's predictions and the
true labels of its own copy of the data (DESIGN decision 3), and parses what the
notebook printed. Nothing here depends on the rubric, so evidence can be cached and
re-scored under any rubric (DESIGN decision 5).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from grader import PROBE_VERSION
from grader import __version__
from grader import dataset
from grader import mlops
from grader.execute import ExecResult
from grader.models import CellRecord
from grader.models import EstimatorFacts
from grader.models import Evidence
from grader.models import ModelEval
from grader.models import PrintedMetric
from grader.models import Submission
from grader.models import VariantRun

_LABELS: list[tuple[str, re.Pattern[str]]] = [
    ("roc_auc", re.compile(r"\b(?:roc[\s_-]*auc|auc[\s_-]*roc|auc|area under (?:the )?(?:roc )?curve)\b", re.I)),
    ("accuracy", re.compile(r"\bacc(?:uracy)?\b", re.I)),
    ("precision", re.compile(r"\bprecision\b", re.I)),
    ("recall", re.compile(r"\b(?:recall|sensitivity|tpr)\b", re.I)),
    ("f1", re.compile(r"\bf[\s_-]?1(?:[\s_-]*score)?\b|\bf-score\b", re.I)),
]
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|\.\d+)(?:e(-?\d+))?\s*(%)?")
_CV_WORDS = re.compile(r"\b(?:cv|cross[\s-]*val\w*|fold|folds|best[\s_]*score|mean|std|±|\+/-)", re.I)
_TRAIN_WORDS = re.compile(r"\btrain(?:ing)?\b|\bin[\s-]sample\b", re.I)
_REPORT_HEADER = re.compile(r"precision\s+recall\s+f1-score\s+support")
_REPORT_END = re.compile(r"^\s*weighted avg.*$", re.M)
_CONFUSION = re.compile(r"\[\[\s*(\d+)[\s,]+(\d+)\s*\]\s*,?\s*\[\s*(\d+)[\s,]+(\d+)\s*\]\]")
_DESCRIBE_ROWS = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")
_DESCRIBE_CAT = ("count", "unique", "top", "freq")


def strip_reports(text: str) -> tuple[str, int]:
    """Remove classification-report blocks (their per-class numbers are not labelled metrics)."""
    n = 0
    while (m := _REPORT_HEADER.search(text)) is not None:
        end = _REPORT_END.search(text, m.end())
        stop = end.end() if end else len(text)
        text = text[: m.start()] + text[stop:]
        n += 1
    return text, n


def parse_printed_metrics(record: CellRecord) -> list[PrintedMetric]:
    """Labelled metric values in a cell's text output, e.g. ``ROC AUC: 0.9683`` or ``{'f1': 0.96}``.

    A label takes the first number after it on the same line, before the next label.
    Values outside [0, 1] (or [0, 100] with a percent sign) are ignored.
    """
    text, _ = strip_reports(record.text)
    found: list[PrintedMetric] = []
    for line in text.splitlines():
        if len(line) > 500:
            continue
        hits = sorted((m.start(), m.end(), name) for name, rx in _LABELS for m in rx.finditer(line))
        # a longer label wins over one inside it ("roc auc" over "auc")
        hits = [h for h in hits if not any(o != h and o[0] <= h[0] and h[1] <= o[1] for o in hits)]
        for i, (_start, end, name) in enumerate(hits):
            stop = hits[i + 1][0] if i + 1 < len(hits) else len(line)
            m = _NUMBER.search(line, end, stop)
            if m is None or m.start() - end > 60:
                continue
            digits = m.group(1)
            value = float(digits) * (10 ** int(m.group(2)) if m.group(2) else 1)
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            if m.group(3):
                value, decimals = value / 100, decimals + 2
            if not 0 <= value <= 1 or (decimals == 0 and value not in (0.0, 1.0)):
                continue
            context = line[: end]
            found.append(PrintedMetric(metric=name, value=value, decimals=decimals, cell=record.index,
                                       line=line.strip()[:200], is_cv=bool(_CV_WORDS.search(line)),
                                       is_train=bool(_TRAIN_WORDS.search(context))))
    return found


def parse_outputs(cells: list[CellRecord]) -> dict[str, Any]:
    """Facts shown in cell outputs: statistics tables, reports, confusion matrices."""
    facts: dict[str, list[int]] = {"describe_cells": [], "categorical_stats_cells": [], "report_cells": [],
                                   "confusion_cells": [], "head_cells": []}
    confusion_values: list[list[int]] = []
    for rec in cells:
        text = rec.text
        shown = text + "\n" + _html_text(rec.html)
        words = set(re.findall(r"[\w%]+", shown))
        if all(r in words for r in _DESCRIBE_ROWS):
            facts["describe_cells"].append(rec.index)
        if all(r in words for r in _DESCRIBE_CAT) or re.search(r"Name: (?:count|proportion)", shown):
            facts["categorical_stats_cells"].append(rec.index)
        if _REPORT_HEADER.search(text):
            facts["report_cells"].append(rec.index)
        if (m := _CONFUSION.search(text)) is not None:
            facts["confusion_cells"].append(rec.index)
            confusion_values.append([int(g) for g in m.groups()])
        if "session_id" in shown and "engagement" in shown:
            facts["head_cells"].append(rec.index)
    out: dict[str, Any] = dict(facts)
    out["confusion_values"] = confusion_values
    return out


def _html_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html) if html else ""


def _rows_for(est: EstimatorFacts, data: dataset.Sessions) -> tuple[np.ndarray | None, bool, str]:
    """Positions of the held-out rows in the grader's data, whether verified, and why not."""
    t = est.test
    assert t is not None
    pos = None
    if t.session_ids is not None and len(t.session_ids) == t.n_rows:
        pos = np.asarray(t.session_ids) - 1
    elif t.index is not None and len(t.index) == t.n_rows:
        pos = np.asarray(t.index)
    if pos is None:
        return None, False, "rows carry no index or session_id (bare array): unverifiable"
    if pos.min() < 0 or pos.max() >= len(data.engagement):
        return None, False, "row identifiers fall outside the data: unverifiable"
    if t.time_spent is not None and len(t.time_spent) == len(pos):
        # compare identity only where the value is usable: imputed or clipped cells may differ
        mine, theirs = data.time_spent[pos], np.asarray(t.time_spent, dtype=float)
        usable = np.isfinite(mine) & (mine >= 10) & (mine <= 600) & np.isfinite(theirs)
        match = float(np.mean(np.abs(theirs[usable] - mine[usable]) < 0.051)) if usable.any() else 0.0
        if match >= 0.99:
            return pos, True, ""
        return None, False, f"rows do not match the data by index ({match:.0%} agree): unverifiable"
    if t.session_ids is not None:
        return pos, True, ""
    return None, False, "rows could not be checked against the data: unverifiable"


def evaluate(est: EstimatorFacts, data: dataset.Sessions) -> ModelEval | None:
    """Recompute the five metrics for one estimator on its held-out rows."""
    from sklearn import metrics

    t = est.test
    if t is None or (t.pred is None and t.proba is None):
        return None
    pos, verified, note = _rows_for(est, data)
    if pos is not None:
        y, source = data.engagement[pos], "grader"
    elif t.y_candidate is not None:
        y, source = np.asarray(t.y_candidate), "candidate"
    else:
        return ModelEval(name=est.name, cls=est.final_estimator or est.cls, n_test=t.n_rows, labels_source="none",
                         verified=False, uses_action=est.uses_action, is_search=est.is_search, note=note)
    e: dict[str, Any] = {"n_pos": int(y.sum()), "n_neg": int(len(y) - y.sum())}
    two_classes = 0 < e["n_pos"] < len(y)
    if t.pred is not None and len(t.pred) == len(y):
        pred = np.asarray(t.pred)
        e["accuracy"] = float(metrics.accuracy_score(y, pred))
        e["precision"] = float(metrics.precision_score(y, pred, zero_division=0))
        e["recall"] = float(metrics.recall_score(y, pred, zero_division=0))
        e["f1"] = float(metrics.f1_score(y, pred, zero_division=0))
    if t.proba is not None and len(t.proba) == len(y) and two_classes:
        e["roc_auc"] = float(metrics.roc_auc_score(y, np.asarray(t.proba)))
    if verified and pos is not None:
        e["action_ceiling_auc"] = dataset.ceiling_auc(pos, uses_action=True, data=data)
        e["ceiling_auc"] = e["action_ceiling_auc"] if est.uses_action is not False else \
            dataset.ceiling_auc(pos, uses_action=False, data=data)
    overlap = None
    if est.fit_index is not None and t.index is not None:
        overlap = len(set(t.index) & set(est.fit_index))
    return ModelEval(name=est.name, cls=est.final_estimator or est.cls, n_test=t.n_rows, labels_source=source,
                     verified=verified, uses_action=est.uses_action, is_search=est.is_search,
                     refit_by=getattr(est, "refit_by", None), train_overlap=overlap, fit_rows=est.fit_rows,
                     note=note, **e)


def _clean_evals(evals: list[ModelEval]) -> list[ModelEval]:
    for ev in evals:
        for k in ("accuracy", "roc_auc", "precision", "recall", "f1", "ceiling_auc", "action_ceiling_auc"):
            v = getattr(ev, k)
            if v is not None and not math.isfinite(v):
                setattr(ev, k, None)
    return evals


def variant_evidence(main: ExecResult, variant: ExecResult, data: dataset.Sessions) -> VariantRun:
    """What the notebook did on the variant data, against the variant's own ceiling."""
    failed_main = {c.index for c in main.run.cells if c.status != "ok"}
    failed = [c.index for c in variant.run.cells if c.status not in ("ok", "skipped")]
    evals = [e for est in variant.probe.estimators if (e := evaluate(est, data)) is not None]
    return VariantRun(ran=True, seconds=variant.run.seconds, ended=variant.run.ended, n_cells=len(variant.run.cells),
                      failed_cells=failed, new_failures=[i for i in failed if i not in failed_main],
                      evals=_clean_evals(evals),
                      reason="" if variant.probe.ok else (variant.probe.error or ""))


def build_evidence(sub: Submission, result: ExecResult, settings: dict[str, Any],
                   variant: VariantRun | None = None) -> Evidence:
    """Everything the scorer may look at, from one execution."""
    run = result.run
    probe = result.probe
    for fig in probe.figures:
        # IPython has already advanced execution_count while a cell runs: the cell's own is one less
        fig.cell = result.exec_counts.get(fig.count - 1) if fig.count is not None else None
    printed = [m for rec in run.cells for m in parse_printed_metrics(rec)]
    data = dataset.reference()
    evals = _clean_evals([ev for est in probe.estimators if (ev := evaluate(est, data)) is not None])
    return Evidence(grader_version=__version__, probe_version=PROBE_VERSION, settings=settings, submission=sub,
                    run=run, probe=probe, printed_metrics=printed, evals=evals, outputs=parse_outputs(run.cells),
                    mlops=mlops.locate_answers(sub), variant=variant)
