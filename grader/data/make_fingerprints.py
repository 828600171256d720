"""Build ``handout_samples.json``: fingerprints of the test notebook's Task 6 text.

The test notebook as candidates receive it (``handout_as_given.ipynb``) ships one set of
sample ML Ops answers inside its Task 6 cell, together with the questions and the
submission instructions. The grader must recognise both: the questions, so that they
are not taken for a candidate's answer, and the sample answers, so that a pasted copy
shows up as an integrity finding. Only hashes are written (word shingles and hashed
terms, see :mod:`grader.mlops`), never the text itself.

Usage::

    python grader/data/make_fingerprints.py SEED.ipynb [--reference reference/solution.ipynb] [-o OUT]

``--reference`` adds the questions as our own handout words them (its Task 6 heading
cell). Re-run this whenever either notebook's Task 6 text changes.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

from grader.load import load
from grader.mlops import FINGERPRINT_FILE
from grader.mlops import Fingerprints
from grader.mlops import build_question_prints
from grader.mlops import count_words
from grader.mlops import locate_answers
from grader.mlops import write_fingerprints
from grader.models import Submission

# In the seed's Task 6 cell the sample answers run from this heading to the next
# level-2 heading (the submission instructions).
ANSWERS_START = re.compile(r"^#\s+ML Ops and Production Readiness:\s*Answers\s*$", re.MULTILINE | re.IGNORECASE)
ANSWERS_END = re.compile(r"^##\s+\S", re.MULTILINE)


def task6_cell(sub: Submission) -> str:
    seg = sub.tasks.get(6)
    if seg is None or seg.heading_cell is None:
        raise SystemExit(f"{sub.path}: no Task 6 heading cell")
    return sub.cells[seg.heading_cell].source


def split_seed(text: str) -> tuple[str, str]:
    """(questions and instructions, sample answers) of the seed's Task 6 cell."""
    start = ANSWERS_START.search(text)
    if start is None:
        raise SystemExit("seed: the Task 6 cell has no '# ML Ops and Production Readiness: Answers' heading")
    end = ANSWERS_END.search(text, start.end())
    stop = end.start() if end else len(text)
    return text[: start.start()] + "\n" + text[stop:], text[start.start(): stop]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seed", type=Path, help="the test notebook as given (handout_as_given.ipynb)")
    ap.add_argument("--reference", type=Path, help="our reference solution; adds its Task 6 questions")
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).with_name(FINGERPRINT_FILE))
    args = ap.parse_args(argv)

    seed, _ = load(args.seed)
    questions, _samples_cell = split_seed(task6_cell(seed))
    question_texts = [questions]
    source = {"seed": f"{args.seed.name} sha256:{sha256(args.seed)}"}
    if args.reference:
        ref, _ = load(args.reference)
        question_texts.append(task6_cell(ref))
        source["reference"] = f"{args.reference.name} sha256:{sha256(args.reference)}"

    # Extract the samples exactly as a candidate's pasted copy would be: through
    # locate_answers, with the question fingerprints already in place.
    qp = build_question_prints(question_texts)
    prints = Fingerprints(shingles={}, tf={}, idf={}, idf_default=1.0,
                          question_shingles=frozenset(qp["shingles"]), question_lines=frozenset(qp["lines"]))
    samples = {a.question: a.text for a in locate_answers(seed, prints)}
    missing = [q for q, t in samples.items() if count_words(t) < 50]
    if missing:
        raise SystemExit(f"seed: sample answers not found for question(s) {missing}")
    data = write_fingerprints(args.out, question_texts, samples, source)
    for q, text in samples.items():
        n = len(data["questions"][str(q)]["shingles"])
        print(f"question {q}: {count_words(text)} words, {n} shingles")
    print(f"question text: {len(data['question_text']['shingles'])} shingles -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
