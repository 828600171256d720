"""Task 6 checks: the written ML Ops answers (placeholder; replaced by the mlops work)."""

from __future__ import annotations

from grader.checks import CheckFn

CHECKS: dict[str, CheckFn] = {}
