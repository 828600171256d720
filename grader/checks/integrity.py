"""Hidden checks on honesty: printed numbers reproduce, the search saw training rows only."""

from __future__ import annotations

from typing import Any

from grader.checks import CheckFn, Outcome, failed, passed, skipped
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


CHECKS: dict[str, CheckFn] = {
    "printed_metrics_honest": printed_metrics_honest,
    "search_on_training_rows": search_on_training_rows,
}
