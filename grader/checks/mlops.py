"""Task 6 checks: the written ML Ops answers, judged on substance.

One check function, :func:`mlops_answer`, used once per question. Its credit is a
weighted sum of three parts, each in [0, 1]:

* length: words over ``min_words``, scaled down when the text is not prose (few
  function words, as in a bare list of tool names);
* coverage: concept groups matched over ``min_groups``, scaled down when the answer
  has fewer than ``words_per_concept`` words for each word of a matched phrase (names
  without explanation);
* reasoning: reasons, conditions and trade-offs (and mentions of this dataset) over
  ``min_reasons``.

Similarity to the handout's sample answers is not scored here; it is reported in the
facts and judged as an integrity finding elsewhere.
"""

from __future__ import annotations

from typing import Any

from grader.checks import CheckFn
from grader.checks import Outcome
from grader.checks import failed
from grader.checks import graded
from grader.mlops import coverage
from grader.mlops import reasoning_signals
from grader.mlops import stopword_ratio
from grader.mlops import words_per_concept
from grader.models import Evidence

DEFAULT_WEIGHTS = {"length": 0.25, "coverage": 0.5, "reasoning": 0.25}
# Prose has 35-50% function words; a list of names has almost none.
DEFAULT_PROSE_RATIO = 0.25
# Words per concept word: explained tools give 3-15, a bare list of names about 1.
DEFAULT_WORDS_PER_CONCEPT = 3.0


def _names(groups: Any) -> str:
    """Group names as a reader sees them: "api_serving, drift" -> "api serving, drift"."""
    return ", ".join(str(g).replace("_", " ") for g in groups) or "none"


def _weights(params: dict[str, Any]) -> dict[str, float]:
    raw = params.get("weights") or DEFAULT_WEIGHTS
    w = {k: max(0.0, float(raw.get(k, 0.0))) for k in DEFAULT_WEIGHTS}
    total = sum(w.values())
    return {k: v / total for k, v in w.items()} if total > 0 else dict(DEFAULT_WEIGHTS)


def mlops_answer(evidence: Evidence, params: dict[str, Any]) -> Outcome:
    """Credit for the answer to one ML Ops question.

    Parameters
    ----------
    evidence : Evidence
        Reads ``evidence.mlops`` (one :class:`~grader.models.MLOpsAnswer` per question).
    params : dict
        ``question`` (int, 1-4); ``min_words`` (int, default 60); ``groups`` (dict of
        str to list of str: concept group -> phrases); ``min_groups`` (int, groups for
        full coverage credit, default all); ``weights`` (dict with ``length``,
        ``coverage``, ``reasoning``; normalised to sum 1); ``min_reasons`` (int,
        default 2); ``specific`` (list of str: phrases about this dataset that count
        as reasoning); ``words_per_concept`` (float, default 3: words of text per word
        of a matched concept phrase below which coverage credit shrinks);
        ``prose_ratio`` (float, default 0.25: share of function words below which
        length credit shrinks).

    Returns
    -------
    Outcome
        ``graded`` with facts ``question``, ``words``, ``min_words``, ``matched`` (group
        -> phrases), ``covered`` and ``missing`` (readable lists), ``missing_groups``,
        ``n_groups``, ``n_groups_total``, ``min_groups``, ``reasons``, ``n_reasons``,
        ``min_reasons``, ``parts`` (the three credits), ``words_per_concept`` and
        ``similarity`` (to the handout's sample answer, not scored here); ``failed`` (fraction 0) when the
        answer is empty or only a placeholder.
    """
    question = int(params.get("question", 0))
    min_words = max(1, int(params.get("min_words", 60)))
    groups: dict[str, list[str]] = {str(k): [str(p) for p in v or []] for k, v in (params.get("groups") or {}).items()}
    min_groups = max(1, min(int(params.get("min_groups", len(groups) or 1)), len(groups) or 1))
    min_reasons = max(1, int(params.get("min_reasons", 2)))
    per_concept = float(params.get("words_per_concept", DEFAULT_WORDS_PER_CONCEPT))
    prose_target = float(params.get("prose_ratio", DEFAULT_PROSE_RATIO))
    weights = _weights(params)

    answer = next((a for a in evidence.mlops if a.question == question), None)
    if answer is None or answer.words == 0 or not answer.text.strip():
        return failed(f"no answer to question {question} found after the Task 6 heading",
                      question=question, words=0, min_words=min_words, matched={}, covered="none",
                      missing_groups=list(groups), missing=_names(groups), n_groups=0, n_groups_total=len(groups),
                      min_groups=min_groups, reasons=[], n_reasons=0, min_reasons=min_reasons,
                      parts={"length": 0.0, "coverage": 0.0, "reasoning": 0.0}, similarity=0.0)

    matched = {g: phrases for g, phrases in coverage(answer.text, groups).items() if phrases}
    missing = [g for g in groups if g not in matched]
    reasons = reasoning_signals(answer.text, params.get("specific") or ())
    spread = words_per_concept(answer.text, groups)

    prose = min(1.0, stopword_ratio(answer.text) / prose_target) if prose_target > 0 else 1.0
    density = min(1.0, spread / per_concept) if per_concept > 0 else 1.0
    parts = {
        "length": round(min(1.0, answer.words / min_words) * prose, 3),
        "coverage": round(min(1.0, len(matched) / min_groups) * density, 3),
        "reasoning": round(min(1.0, len(reasons) / min_reasons), 3),
    }
    fraction = sum(weights[k] * parts[k] for k in parts)

    detail = (f"question {question}: {answer.words} words, {len(matched)}/{len(groups)} concept groups "
              f"({', '.join(matched) or 'none'}), {len(reasons)} reasons")
    if missing:
        detail += f"; not covered: {', '.join(missing)}"
    return graded(
        fraction, detail, cell=answer.cells[0] if answer.cells else None,
        question=question, words=answer.words, min_words=min_words, matched=matched, covered=_names(matched),
        missing_groups=missing, missing=_names(missing), n_groups=len(matched), n_groups_total=len(groups),
        min_groups=min_groups, reasons=reasons, n_reasons=len(reasons), min_reasons=min_reasons, parts=parts,
        words_per_concept=round(spread, 2) if spread != float("inf") else None,
        similarity=answer.sample_similarity,
    )


CHECKS: dict[str, CheckFn] = {"mlops_answer": mlops_answer}
