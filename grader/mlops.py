"""Locate and analyse the ML Ops answers (placeholder; replaced by the mlops work)."""

from __future__ import annotations

from grader.models import MLOpsAnswer, Submission


def locate_answers(sub: Submission) -> list[MLOpsAnswer]:
    return []
