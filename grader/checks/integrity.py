"""Hidden checks on honesty: printed numbers reproduce, the search saw training rows only."""

from __future__ import annotations

from typing import Any

from grader.checks import CheckFn
from grader.checks import Outcome
from grader.checks import failed
from grader.checks import graded
from grader.checks import passed
from grader.checks import skipped
from grader.checks.common import matches
from grader.models import Evidence


def printed_metrics_honest(ev: Evidence, params: dict[str, Any]) -> Outcome:
    from grader.findings import printed_metrics_mismatch

    printed = [p for p in ev.printed_metrics if not p.is_cv and not p.is_train]
    if not printed:
        return skipped("no labelled metrics were printed")
    if not any(e.labels_source == "grader" for e in ev.evals):
        return skipped("no model could be verified against the data")
    bad = printed_metrics_mismatch(ev, params)
    if bad:
        return failed(bad[0].message, cell=bad[0].cell, mismatches=len(bad))
    ok = sum(any(matches(p.value, p.decimals, getattr(e, p.metric) or -1) for e in ev.evals) for p in printed)
    return passed(f"all {len(printed)} printed metrics reproduce ({ok} from held-out predictions)")


def search_on_training_rows(ev: Evidence, params: dict[str, Any]) -> Outcome:
    searches = [e for e in ev.evals if e.is_search or e.refit_by]
    if not searches:
        return skipped("no evaluated search")
    leaked = [e for e in searches if e.train_overlap]
    if leaked:
        return failed(f"'{leaked[0].name}' was fitted on {leaked[0].train_overlap} held-out rows")
    if all(e.train_overlap is None for e in searches):
        return skipped("the rows the search was fitted on are unknown")
    return passed("the search was fitted on training rows only")


def hidden_data_rerun(ev: Evidence, params: dict[str, Any]) -> Outcome:
    """On a variant of the data (other seed, missing values, outliers, shuffled rows) the code
    still runs end to end and its model stays near the variant's own ceiling."""
    v = ev.variant
    if v is None:
        return skipped("the hidden-data re-run was not part of this grade", applicable=False)
    if not v.ran:
        return failed(f"the re-run could not start: {v.reason}")
    if not ev.evals:  # running end to end means nothing when there is no model to test
        return failed("no model was evaluated on the real data, so there is nothing to check on new data")
    tol = params.get("tolerance", 0.05)
    verified = [e for e in v.evals if e.roc_auc is not None and e.ceiling_auc is not None]
    best = max(verified, key=lambda e: e.roc_auc or 0.0, default=None)
    runs = not v.failed_cells and v.ended == "complete"
    facts = {"failed_cells": v.failed_cells, "new_failures": v.new_failures, "ended": v.ended,
             "auc": round(best.roc_auc, 4) if best and best.roc_auc is not None else None,
             "ceiling": round(best.ceiling_auc, 4) if best and best.ceiling_auc is not None else None}
    near = best is not None and (best.ceiling_auc or 0) - (best.roc_auc or 0) <= tol
    if runs and near:
        return passed(f"runs end to end on new data; AUC {facts['auc']} against a ceiling of {facts['ceiling']}",
                      **facts)
    if runs:
        how = "no model could be verified on the new rows" if best is None else \
            f"AUC {facts['auc']} against a ceiling of {facts['ceiling']}"
        return graded(params.get("runs_only_fraction", 0.5), f"runs end to end on new data, but {how}", **facts)
    where = ", ".join(str(c) for c in v.failed_cells[:5]) or "the end"
    why = f"{len(v.new_failures)} of them only on the new data" if v.new_failures else "they fail on the real data too"
    return graded(params.get("partial_fraction", 0.25) if best else 0.0,
                  f"on new data cells {where} fail ({why}; run {v.ended})",
                  cell=v.failed_cells[0] if v.failed_cells else None, **facts)


CHECKS: dict[str, CheckFn] = {
    "hidden_data_rerun": hidden_data_rerun,
    "printed_metrics_honest": printed_metrics_honest,
    "search_on_training_rows": search_on_training_rows,
}
