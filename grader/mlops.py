"""Task 6: find the written ML Ops answers in a submission and analyse their text.

Two kinds of function live here, used at two different times:

* Evidence stage (once per notebook): :func:`locate_answers` finds the answer to each
  of the four questions, :func:`sample_similarity` compares an answer with the sample
  answers shipped inside the test notebook (only fingerprints of them are stored, in
  ``grader/data/handout_samples.json``), and :func:`similar_pairs` compares answers
  across a batch (scikit-learn, imported lazily).
* Scoring stage (every re-score): :func:`coverage` and :func:`reasoning_signals` are
  pure Python with no heavy imports. Concept phrases are rubric content and come in as
  arguments; only generic English reasoning markers live in this module.

Text is compared as a stream of lower-case word tokens (letters and digits; every
other character separates tokens, so ``"ks"`` never matches inside ``"works"``), lightly
stemmed by :func:`stem` so that ``"alerts"``, ``"alerting"`` and ``"alerted"`` agree.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import tokenize
from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from grader.models import CellInfo
from grader.models import MLOpsAnswer
from grader.models import Submission

N_QUESTIONS = 4
FINGERPRINT_FILE = "handout_samples.json"
SHINGLE = 5  # words per shingle for the sample fingerprints
QUESTION_SHINGLE = 3  # shorter shingles for question lines, which candidates often trim
QUESTION_LINE_THRESHOLD = 0.6  # share of a sentence's shingles found in the questions

# --- tokens -----------------------------------------------------------------------------------------------

_APOSTROPHE = re.compile(r"(?<=[a-z0-9])['\u2019](?=[a-z])")
_TOKEN = re.compile(r"[a-z0-9]+")
_PROSE_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019\-][A-Za-z0-9]+)*")
_DOUBLE = re.compile(r"([bgmnprt])\1$")  # doubled consonant left by -ing/-ed ("logg")

# Function words: their share tells prose from a bare list of names.
_STOPWORD_TEXT = """
a about above after again against all also an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers him his how i if in into is it its itself just me more most my no nor not
now of off on once only or other our ours out over own same she should so some such than that the
their them then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours one it's i'd i'll we'd we'll
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@lru_cache(maxsize=65536)  # a batch re-scores the same few thousand words over and over
def stem(token: str) -> str:
    """Strip plural and common verb suffixes, so inflected forms compare equal.

    Deliberately crude: it only has to map a phrase and the text onto the same form.

    Parameters
    ----------
    token : str
        A lower-case word token.

    Returns
    -------
    str
        The stem.

    >>> [stem(w) for w in ("alerts", "alerting", "alerted", "logging", "latencies", "scaling", "scale")]
    ['alert', 'alert', 'alert', 'log', 'latency', 'scal', 'scal']
    """
    t = token
    if len(t) <= 3 or t.isdigit():
        return t
    t = t.replace("isation", "ization")
    if t.endswith(("ise", "ised", "ises", "ising")) and len(t) > 5:
        t = t[: t.rindex("is")] + "iz" + t[t.rindex("is") + 2:]
    if t.endswith("ies") and len(t) > 4:
        t = t[:-3] + "y"
    elif t.endswith("s") and not t.endswith(("ss", "us", "is")):
        t = t[:-1]
    if t.endswith("ing") and len(t) >= 6:
        t = _DOUBLE.sub(r"\1", t[:-3])
    elif t.endswith("ed") and len(t) >= 5:
        t = _DOUBLE.sub(r"\1", t[:-2])
    if t.endswith("e") and len(t) > 4:
        t = t[:-1]
    return t


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` (markdown and punctuation dropped).

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
    """
    low = _APOSTROPHE.sub("", text.lower())
    return _TOKEN.findall(low)


def stems(text: str) -> list[str]:
    """Stemmed tokens of ``text``.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str
    """
    return list(_stems(text))


@lru_cache(maxsize=1024)  # one answer is stemmed by several checks and by the scorecard
def _stems(text: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in tokens(text))


def count_words(text: str) -> int:
    """Words of prose in ``text``, not counting fenced code blocks.

    Parameters
    ----------
    text : str

    Returns
    -------
    int
    """
    return len(_PROSE_WORD.findall(_FENCE_BLOCK.sub(" ", text)))


def stopword_ratio(text: str) -> float:
    """Share of the tokens that are English function words (prose ~0.4, a tool list ~0).

    Parameters
    ----------
    text : str

    Returns
    -------
    float
    """
    toks = tokens(_FENCE_BLOCK.sub(" ", text))
    if not toks:
        return 0.0
    return sum(t in STOPWORDS for t in toks) / len(toks)


def stable_hash(text: str) -> str:
    """A short, process-independent hash (blake2b, 6 bytes, hex).

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def shingles(toks: Sequence[str], n: int = SHINGLE) -> set[str]:
    """Hashed word n-grams of a token sequence.

    Parameters
    ----------
    toks : sequence of str
    n : int

    Returns
    -------
    set of str
    """
    return {stable_hash(" ".join(toks[i:i + n])) for i in range(len(toks) - n + 1)}


# --- phrase matching --------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def compile_phrase(phrase: str) -> tuple[tuple[str, bool], ...]:
    """A phrase as (stem, is_prefix) pairs; a trailing ``*`` on a word makes it a prefix."""
    out: list[tuple[str, bool]] = []
    for word in phrase.split():
        prefix = word.endswith("*")
        toks = tokens(word.rstrip("*"))
        for k, t in enumerate(toks):
            last = k == len(toks) - 1
            out.append((t if prefix and last else stem(t), prefix and last))
    return tuple(out)


def find_phrase(pattern: tuple[tuple[str, bool], ...], seq: Sequence[str],
                  index: Mapping[str, list[int]]) -> list[int]:
    """Start positions where ``pattern`` matches ``seq`` (stems) contiguously.

    Only positions where the first word can match are tried (``index``: stem -> positions).
    """
    if not pattern:
        return []
    first, prefix = pattern[0]
    starts = sorted(i for stem_, pos in index.items() if stem_.startswith(first) for i in pos) if prefix \
        else index.get(first, [])
    n = len(pattern)
    hits = []
    for i in starts:
        if i + n > len(seq):
            continue
        if all((seq[i + k].startswith(w) if p else seq[i + k] == w) for k, (w, p) in enumerate(pattern[1:], 1)):
            hits.append(i)
    return hits


def phrase_index(seq: Sequence[str]) -> dict[str, list[int]]:
    """Stem -> its positions in ``seq``: phrase search then starts only where it can match."""
    index: dict[str, list[int]] = {}
    for i, tok in enumerate(seq):
        index.setdefault(tok, []).append(i)
    return index


def _match_groups(seq: Sequence[str], groups: Mapping[str, Iterable[str]]) -> tuple[dict[str, list[str]], set[int]]:
    """Matched phrases per group, and the token positions they cover."""
    out: dict[str, list[str]] = {}
    covered: set[int] = set()
    index = phrase_index(seq)
    for name, phrases in groups.items():
        found: list[str] = []
        for phrase in phrases:
            pattern = compile_phrase(str(phrase))
            starts = find_phrase(pattern, seq, index)
            if starts and phrase not in found:
                found.append(phrase)
            for i in starts:
                covered.update(range(i, i + len(pattern)))
        out[name] = found
    return out, covered


def coverage(text: str, groups: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Which phrases of each concept group occur in ``text``.

    Matching ignores case, punctuation and markdown, compares stems (so plurals and
    ``-ing``/``-ed`` forms agree), matches multi-word phrases as consecutive words, and
    never inside a word. A word ending in ``*`` in a phrase matches any word starting
    with it (``"autoscal*"``).

    Parameters
    ----------
    text : str
        The answer.
    groups : mapping of str to iterable of str
        Concept group name -> phrases (from the rubric's params).

    Returns
    -------
    dict of str to list of str
        Every group name, with the phrases (as spelled in the rubric) that matched; an
        empty list for a group that is not covered.

    >>> coverage("It works with a KS test.", {"drift": ["ks test"], "x": ["ks"], "y": ["work"]})
    {'drift': ['ks test'], 'x': ['ks'], 'y': ['work']}
    >>> coverage("frameworks", {"x": ["ks", "work"]})
    {'x': []}
    """
    return _match_groups(stems(text), groups)[0]


def words_per_concept(text: str, groups: Mapping[str, Iterable[str]]) -> float:
    """Words of ``text`` per word that is part of a matched concept phrase.

    Prose that explains its tools has 3 to 15; a bare list of tool names about 1.

    Parameters
    ----------
    text : str
    groups : mapping of str to iterable of str

    Returns
    -------
    float
        ``inf`` when no concept phrase matches.

    >>> words_per_concept("Docker, Kubernetes, FastAPI", {"g": ["docker", "kubernetes", "fastapi"]})
    1.0
    """
    seq = stems(text)
    _, covered = _match_groups(seq, groups)
    return len(seq) / len(covered) if covered else math.inf


# --- reasoning --------------------------------------------------------------------------------------------

# Generic English markers of a reason, a consequence, a condition or a trade-off. Concept
# and dataset phrases are rubric content and are passed in by the caller instead.
REASON_MARKERS: tuple[str, ...] = (
    "because", "since", "which means", "this means", "that means", "means that", "which is why", "that is why", "the reason",
    "trade off", "tradeoff", "instead of", "rather than", "at the cost of", "at the expense of",
    "at a higher", "at a lower", "the risk", "risk of", "risk is", "downside", "drawback", "otherwise",
    "in order to", "depend on", "unless", "whereas", "hence", "therefore", "thus", "as a result",
    "given that", "due to", "only if", "only when", "as long as", "to avoid", "avoid", "prevent",
    "worth it", "not worth", "the catch", "the cost",
)
_COMPARISON = re.compile(
    r"\b(?:more|less|cheaper|simpler|faster|slower|easier|harder|safer|higher|lower|better|worse|smaller"
    r"|larger)\b(?:\s+[\w\-/]+){0,4}?\s+than\b"
)
# "so" as a consequence ("cheap, so scaling is about the service"), not "so far", "do so".
_SO = re.compile(r"(?<!\bdo )(?<!\band )(?<!\bor )\bso\b(?!\s+(?:far|much|many|on|forth|called|long)\b)(?:\s+that\b)?")
_CONDITIONAL = re.compile(r"\b(?:if|when)\b[^.;:!?]{3,150}?(?:,|\bthen\b)")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")


def _sentences(text: str) -> list[str]:
    low = _APOSTROPHE.sub("", _FENCE_BLOCK.sub(" ", text).lower())
    low = re.sub(r"[*_`>#|]+", " ", low)
    return [s for s in _SENTENCE_SPLIT.split(low) if s.strip()]


@lru_cache(maxsize=1)
def _markers_by_first_word() -> tuple[dict[str, list[tuple[str, tuple[tuple[str, bool], ...]]]], list]:
    """REASON_MARKERS compiled and grouped by their first stem; those starting with a prefix apart."""
    by_first: dict[str, list[tuple[str, tuple[tuple[str, bool], ...]]]] = {}
    prefixed = []
    for m in REASON_MARKERS:
        pattern = compile_phrase(m)
        if not pattern:
            continue
        if pattern[0][1]:
            prefixed.append((m, pattern))
        else:
            by_first.setdefault(pattern[0][0], []).append((m, pattern))
    return by_first, prefixed


def reasoning_signals(text: str, specific: Iterable[str] = ()) -> list[str]:
    """Phrases in ``text`` that give a reason, a condition or a trade-off.

    One entry per marker per sentence (a sentence with "because" twice counts once),
    in text order, plus one ``"about: <phrase>"`` entry for each of the ``specific``
    phrases that occurs anywhere (mentions of this dataset, such as its ``view`` action
    or label delay).

    Parameters
    ----------
    text : str
        The answer.
    specific : iterable of str
        Phrases specific to the task's data (from the rubric); matched like
        :func:`coverage` phrases.

    Returns
    -------
    list of str

    >>> reasoning_signals("Use batch scoring because it is cheaper than an API. If labels lag, wait.")
    ['because', 'cheaper ... than', 'if ... then']
    """
    by_first, prefixed = _markers_by_first_word()
    found: list[str] = []
    for sentence in _sentences(text):
        seq = stems(sentence)
        index = phrase_index(seq)
        hits: list[tuple[int, str]] = []
        # only markers whose first word occurs in the sentence can match
        candidates = [m for word in index for m in by_first.get(word, ())] + prefixed
        for label, pattern in sorted(candidates, key=lambda m: REASON_MARKERS.index(m[0])):
            pos = find_phrase(pattern, seq, index)
            if pos:
                hits.append((pos[0], label))
        # Positions of regex hits are approximate (word offset of the match start).
        for regex, label in ((_COMPARISON, "{} ... than"), (_CONDITIONAL, "if ... then"), (_SO, "{}")):
            m = regex.search(sentence)
            if m:
                found_words = tokens(m.group(0))
                text_label = " ".join(found_words) if regex is _SO else label.format(found_words[0])
                hits.append((len(tokens(sentence[: m.start()])), text_label))
        labels: list[str] = []
        for _, label in sorted(hits):
            if label not in labels:
                labels.append(label)
        # "to avoid" and "avoid" in one sentence are one reason.
        found.extend(a for a in labels if not any(a != b and f" {a} " in f" {b} " for b in labels))
    seq = stems(text)
    index = phrase_index(seq)
    for phrase in specific:
        if find_phrase(compile_phrase(str(phrase)), seq, index):
            found.append(f"about: {phrase}")
    return found


# --- fingerprints of the handout's sample answers --------------------------------------------------------


@dataclass(frozen=True)
class Fingerprints:
    """What ``handout_samples.json`` holds: hashes only, never the sample text."""

    shingles: dict[int, frozenset[str]]
    tf: dict[int, dict[str, float]]
    idf: dict[str, float]
    idf_default: float
    question_shingles: frozenset[str] = frozenset()
    question_lines: frozenset[str] = frozenset()
    all_shingles: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        union: set[str] = set()
        for s in self.shingles.values():
            union |= s
        object.__setattr__(self, "all_shingles", frozenset(union))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fingerprints:
        qs = data.get("questions", {})
        text = data.get("question_text", {})
        return cls(
            shingles={int(q): frozenset(v["shingles"]) for q, v in qs.items()},
            tf={int(q): {h: float(w) for h, w in v["tf"].items()} for q, v in qs.items()},
            idf={h: float(w) for h, w in data.get("idf", {}).items()},
            idf_default=float(data.get("idf_default", 1.0)),
            question_shingles=frozenset(text.get("shingles", [])),
            question_lines=frozenset(text.get("lines", [])),
        )


EMPTY_FINGERPRINTS = Fingerprints(shingles={}, tf={}, idf={}, idf_default=1.0)


@lru_cache(maxsize=1)
def load_fingerprints() -> Fingerprints:
    """The packaged fingerprints (empty ones if the data file is missing).

    Returns
    -------
    Fingerprints
    """
    try:
        raw = resources.files("grader").joinpath("data", FINGERPRINT_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return EMPTY_FINGERPRINTS
    return Fingerprints.from_json(json.loads(raw))


def term_vector(text: str, idf: Mapping[str, float], idf_default: float) -> dict[str, float]:
    """Hashed-term TF-IDF vector of ``text`` (content stems only, sublinear TF).

    Parameters
    ----------
    text : str
    idf : mapping of str to float
        Term hash -> inverse document frequency; unknown terms get ``idf_default``.
    idf_default : float

    Returns
    -------
    dict of str to float
    """
    counts = Counter(stem(t) for t in tokens(text) if t not in STOPWORDS and len(t) > 1)
    return {(h := stable_hash(t)): (1.0 + math.log(c)) * idf.get(h, idf_default) for t, c in counts.items()}


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    dot = sum(w * b.get(k, 0.0) for k, w in a.items())
    na = math.sqrt(sum(w * w for w in a.values()))
    nb = math.sqrt(sum(w * w for w in b.values()))
    return dot / (na * nb) if na and nb else 0.0


# Cosine between two independent answers on the same topic sits around 0.2-0.35 (shared
# tool names); a light paraphrase of a sample stays above 0.8. Rescale so that topic
# overlap reads as low similarity and copying as high.
_COSINE_FLOOR = 0.35


def sample_similarity(text: str, question: int, prints: Fingerprints | None = None) -> float:
    """Similarity in [0, 1] of an answer to the handout's sample answer to ``question``.

    The maximum of three views: the share of the answer's word 5-shingles found in any
    sample answer (a paste, even under another question), the share of the question's
    sample shingles found in the answer (a paste with additions), and the hashed-term
    TF-IDF cosine to the question's sample, rescaled so that two independent answers on
    the same topic score near 0.

    Parameters
    ----------
    text : str
        The candidate's answer.
    question : int
        1 to 4.
    prints : Fingerprints, optional
        Defaults to the packaged ones.

    Returns
    -------
    float
    """
    fp = prints or load_fingerprints()
    toks = tokens(text)
    if not toks or question not in fp.shingles:
        return 0.0
    own = shingles(toks)
    sample = fp.shingles[question]
    contained = len(own & fp.all_shingles) / len(own) if own else 0.0
    covered = len(own & sample) / len(sample) if sample else 0.0
    cos = _cosine(term_vector(text, fp.idf, fp.idf_default), fp.tf.get(question, {}))
    rescaled = max(0.0, (cos - _COSINE_FLOOR) / (1.0 - _COSINE_FLOOR))
    return round(min(1.0, max(contained, covered, rescaled)), 4)


# --- locating the answers ---------------------------------------------------------------------------------

# Words that name a question in a heading ("### Monitoring", "**Q4 Scaling**"). They only
# place answers; scoring uses the rubric's concept groups.
_TOPIC_WORDS: dict[int, tuple[str, ...]] = {
    1: ("deploy", "deployment", "serving", "api", "containerization", "endpoint"),
    2: ("monitoring", "logging", "alerting", "drift", "observability"),
    3: ("ci", "cd", "cicd", "integration", "delivery", "release", "rollback", "testing"),
    4: ("scaling", "scalability", "maintenance", "maintain", "retraining", "replicas", "autoscaling",
        "autoscaler"),
}
_TOPICS: dict[int, frozenset[str]] = {q: frozenset(stem(w) for w in ws) for q, ws in _TOPIC_WORDS.items()}
# Broader words, only to place text that has no heading at all (never to read a heading).
_CONTENT_WORDS: dict[int, tuple[str, ...]] = {
    1: ("docker", "container", "kubernetes", "fastapi", "flask", "sagemaker", "joblib", "pickle", "onnx", "rest",
        "grpc", "ship", "artifact", "vertex"),
    2: ("latency", "psi", "prometheus", "grafana", "alert", "log", "cloudwatch", "elk", "calibration", "labels",
        "pagerduty", "slack", "dashboard"),
    3: ("git", "github", "jenkins", "mlflow", "tests", "registry", "canary", "shadow", "promoted", "champion",
        "pipeline", "merge"),
    4: ("spark", "replicas", "autoscaler", "balancer", "cache", "store", "weekly", "volume", "snapshot", "stateless"),
}
_CONTENT: dict[int, frozenset[str]] = {q: frozenset(stem(w) for w in ws) for q, ws in _CONTENT_WORDS.items()}
_HEADING_LINE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BOLD_LINE = re.compile(r"^(\*\*|__)(.+?)\1\s*([:.\-\u2013\u2014]?)\s*(.*)$")
_NUMBERED_LINE = re.compile(
    r"^\(?(?P<q>(?:q|question|part)\s*)?(?:6\s*\.\s*)?(?P<n>[1-9])(?![\d.]\d)\s*[.):\-\u2013\u2014]?\s+(?P<rest>.*)$",
    re.IGNORECASE,
)
_Q_PREFIX = re.compile(r"^\(?\s*(?:q|question|part)\s*\.?\s*(?:6\s*\.\s*)?([1-9])\b", re.IGNORECASE)
_NUMBER_PREFIX = re.compile(r"^\(?\s*(?:6\s*\.\s*)?([1-9])(?![\d.]\d)\s*[.):\-\u2013\u2014]?(?:\s|$)")
_TASK_PREFIX = re.compile(r"^\s*task\s*\d", re.IGNORECASE)
_MLOPS_HEADING = re.compile(r"\bml\s*-?\s*ops\b|\bproduction\s+readiness\b", re.IGNORECASE)
_FIT_CALL = re.compile(r"\.fit\s*\(")
_FENCE = re.compile(r"^\s*(```|~~~)")
_FENCE_BLOCK = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_RULE = re.compile(r"^\s*([-*_=]\s*){3,}$")
_MD_NOISE = re.compile(r"[*_`>|~#]+")
_PLACEHOLDER = re.compile(
    r"""^(?:
        \(?\s*(?:your|my|candidate'?s?)?\s*(?:answer|response|text|solution)s?\b.{0,40}?
            \b(?:here|below|goes\ here|tbd|todo)\s*\)?
      | (?:your|my|the)?\s*(?:answer|response)s?(?:\s+(?:to\s+)?(?:question|q)\s*\d)?
      | (?:todo|tbd|tbc|fixme|xxx|wip|placeholder)\b.{0,60}
      | n/?a | none | nothing\ yet | coming\ soon
      | (?:write|add|insert|put|type|enter|fill\ in)\s+(?:in\s+)?your\s+(?:answer|response|text).{0,60}
      | lorem\ ipsum.*
      | [.\u2026\-?]+
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def _topic(title: str) -> int | None:
    """The question a heading's words point at, or None."""
    seq = stems(title)
    scores = {q: sum(s in words for s in seq) for q, words in _TOPICS.items()}
    best = max(scores.values())
    if best == 0:
        return None
    return min(q for q, s in scores.items() if s == best)


def _content_topic(text: str) -> int | None:
    """The question a paragraph without a heading is about, or None."""
    seq = stems(text)
    scores = {q: sum(2 * (s in _TOPICS[q]) + (s in _CONTENT[q]) for s in seq) for q in _TOPICS}
    best = max(scores.values())
    if best == 0:
        return None
    return min(q for q, s in scores.items() if s == best)


def _title_question(title: str, strong: bool) -> tuple[int | None, bool]:
    """(question, is_numbered) named by a heading or bold title; question None if none.

    ``strong`` titles (markdown headings) may be numbered without a topic word
    ("### 2. Second answer"); weaker ones (bold lines, list items) need the number and
    the topic to agree, or a "Q"/"Question" prefix, so a numbered list inside an answer
    is not taken for the next question.
    """
    clean = _MD_NOISE.sub(" ", title).strip()
    if _TASK_PREFIX.match(clean):
        return None, False
    m = _Q_PREFIX.match(clean) or _NUMBER_PREFIX.match(clean)
    topic = _topic(clean)
    if m:
        n = int(m.group(1))
        if not 1 <= n <= N_QUESTIONS:
            return None, True
        if strong or m.re is _Q_PREFIX or topic == n:
            return n, True
        return None, True
    return topic, False


@dataclass
class _Marker:
    question: int | None  # None: a heading that names no question (it may end one)
    level: int  # 1-6 for '#' headings, 7 for bold lines and list items
    rest: str = ""
    numbered: bool = False


def _marker(line: str) -> _Marker | None:
    """Is this line a heading that starts (or ends) an answer section?"""
    s = line.strip()
    if not s:
        return None
    m = _HEADING_LINE.match(s)
    if m:
        title = m.group(2)
        q, numbered = _title_question(title, strong=True)
        # A whole answer written as a heading line: keep its words.
        rest = _strip_number(title) if q and len(title.split()) > 10 else ""
        return _Marker(q, len(m.group(1)), rest, numbered)
    m = _NUMBERED_LINE.match(s)
    if m:
        rest = m.group("rest").strip()
        b = _BOLD_LINE.match(rest)
        if b:
            title, body = b.group(2), b.group(4)
        elif ":" in rest[:60]:
            title, body = rest.split(":", 1)
        elif len(rest.split()) <= 6:
            title, body = rest, ""
        elif m.group("q") and 1 <= int(m.group("n")) <= N_QUESTIONS:
            # "Q1: I would ship ...": the prefix alone names the question.
            return _Marker(int(m.group("n")), 7, rest, True)
        else:
            return None
        if len(title.split()) > 8:
            return None
        q, _ = _title_question(f"{m.group('q') or ''}{m.group('n')}. {title}", strong=False)
        return _Marker(q, 7, body.strip(), True) if q else None
    m = _BOLD_LINE.match(s)
    if m:
        title, sep, body = m.group(2), m.group(3), m.group(4)
        if len(title.split()) > 8:
            return None
        q, numbered = _title_question(title, strong=False)
        if q is None:
            return None
        # A bold topic word with no number heads a section only as a label ("**Monitoring:** ..."),
        # not when it starts a sentence ("**Monitoring** matters because ...").
        if not numbered and body and not (sep or title.rstrip().endswith((":", "."))):
            return None
        return _Marker(q, 7, body.strip(), numbered)
    m = _Q_PREFIX.match(s)
    if m and 1 <= int(m.group(1)) <= N_QUESTIONS:
        rest = re.sub(r"^\s*[.):\-\u2013\u2014]?\s*", "", s[m.end():])
        return _Marker(int(m.group(1)), 7, rest, True)
    return None


def _strip_number(title: str) -> str:
    m = _Q_PREFIX.match(title) or _NUMBER_PREFIX.match(title)
    return re.sub(r"^\s*[.):\-\u2013\u2014]?\s*", "", title[m.end():]) if m else title


@dataclass
class _Line:
    cell: int
    text: str
    fenced: bool = False


def _code_text(source: str) -> list[str]:
    """Comments and triple-quoted strings of a code cell, as lines of prose."""
    out: list[str] = []
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        toks = []
        # Not valid Python (IPython magics, half-written code): read comments line by line.
        out.extend(re.sub(r"^\s*#+\s?", "", ln) for ln in source.splitlines() if ln.lstrip().startswith("#"))
        for m in re.finditer(r'("""|\'\'\')(.*?)\1', source, re.DOTALL):
            out.extend(m.group(2).splitlines())
        return out
    for tok in toks:
        if tok.type == tokenize.COMMENT:
            out.append(re.sub(r"^#+\s?", "", tok.string))
        elif tok.type == tokenize.STRING:
            body = re.sub(r"^[rbuRBUfF]*", "", tok.string)
            if body[:3] in ('"""', "'''"):
                inner = body[3:-3]
                lines = inner.splitlines()
                indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
                out.extend(x[indent:] for x in lines)
    return out


def _cell_lines(cell: CellInfo) -> list[_Line]:
    if cell.cell_type == "markdown":
        lines: list[_Line] = []
        fenced = False
        for ln in cell.source.splitlines():
            if _FENCE.match(ln):
                fenced = not fenced
                lines.append(_Line(cell.index, ln, True))
                continue
            lines.append(_Line(cell.index, ln, fenced))
        return lines
    if cell.cell_type == "code":
        return [_Line(cell.index, ln) for ln in _code_text(cell.source)]
    return []


def _is_question_text(sentence: str, prints: Fingerprints) -> bool:
    toks = tokens(sentence)
    if not toks:
        return False
    if len(toks) < QUESTION_SHINGLE:
        return stable_hash(" ".join(toks)) in prints.question_lines
    own = shingles(toks, QUESTION_SHINGLE)
    return len(own & prints.question_shingles) / len(own) >= QUESTION_LINE_THRESHOLD


def _is_placeholder(line: str) -> bool:
    clean = _MD_NOISE.sub(" ", line).strip(" .:*_()[]\t")
    if not clean:
        return True
    if len(clean.split()) > 12:
        return False
    return bool(_PLACEHOLDER.match(clean)) or bool(_PLACEHOLDER.match(clean + "."))


def _clean_line(line: _Line, prints: Fingerprints) -> str:
    """The line without question text, placeholders or rules ('' if nothing is left)."""
    if line.fenced:
        return line.text
    if _RULE.match(line.text) or _is_placeholder(line.text):
        return ""
    if not prints.question_shingles and not prints.question_lines:
        return line.text.rstrip()
    whole = line.text.strip()
    if _is_question_text(whole, prints):
        return ""
    parts = re.split(r"(?<=[.?!])\s+", line.text.rstrip())
    kept = [p for p in parts if not _is_question_text(p, prints)]
    if len(kept) == len(parts):
        return line.text.rstrip()
    return " ".join(kept)


@dataclass
class _Section:
    question: int | None
    level: int
    lines: list[_Line] = field(default_factory=list)


def _region(sub: Submission) -> tuple[list[CellInfo], bool]:
    """Cells that may hold the answers, and whether a heading anchors them."""
    cells = sub.cells
    seg = sub.tasks.get(6)
    if seg is not None and seg.heading_cell is not None:
        return [c for c in cells if c.index >= seg.heading_cell], True
    last_fit = max((c.index for c in cells if c.cell_type == "code" and _FIT_CALL.search(c.source)), default=-1)
    headed = [c for c in cells if c.cell_type == "markdown" and _MLOPS_HEADING.search(_first_line(c.source))]
    after = [c for c in headed if c.index > last_fit]
    if after or headed:
        start = (after or headed)[-1 if not after else 0].index
        return [c for c in cells if c.index >= start], True
    return [c for c in cells if c.index > last_fit], False


def _first_line(text: str) -> str:
    return next((ln for ln in text.splitlines() if ln.strip()), "")


def _only_questions(lines: list[_Line], prints: Fingerprints) -> bool:
    """True for lines that are all question text (and not empty)."""
    text = [x for x in lines if x.text.strip()]
    return bool(text) and not any(_clean_line(x, prints).strip() for x in text)


def _sections(cells: list[CellInfo], prints: Fingerprints) -> tuple[list[_Section], list[_Line]]:
    """Split the region's lines at answer headings; also return text before/between them."""
    sections: list[_Section] = []
    loose: list[_Line] = []
    current: _Section | None = None
    for cell in cells:
        # The questions' own numbered list ends with its cell: unheaded answers in the next
        # cells must not all land in question 4.
        if current is not None and _only_questions(current.lines, prints):
            current = None
        for line in _cell_lines(cell):
            mk = None if line.fenced else _marker(line.text)
            if mk is None:
                (current.lines if current else loose).append(line)
                continue
            if mk.question is None:
                if current is not None and mk.level <= current.level:
                    current = None
                # The heading's own words are kept as text of whatever it sits in.
                title = _HEADING_LINE.sub(r"\2", line.text.strip())
                (current.lines if current else loose).append(_Line(line.cell, title))
                continue
            if current is not None and current.question == mk.question and not mk.numbered:
                # "**Logging and alerting:**" inside the monitoring answer: same section.
                if mk.rest:
                    current.lines.append(_Line(line.cell, mk.rest))
                continue
            current = _Section(mk.question, mk.level)
            sections.append(current)
            if mk.rest:
                current.lines.append(_Line(line.cell, mk.rest))
    return sections, loose


def _blocks(lines: list[_Line], prints: Fingerprints) -> list[list[_Line]]:
    """Paragraphs of cleaned text (split at blank lines and cell boundaries)."""
    blocks: list[list[_Line]] = []
    cur: list[_Line] = []
    last_cell = None
    for line in lines:
        text = _clean_line(line, prints)
        if not text.strip() or line.cell != last_cell:
            if cur:
                blocks.append(cur)
            cur = []
        if text.strip():
            cur.append(_Line(line.cell, text, line.fenced))
        last_cell = line.cell
    if cur:
        blocks.append(cur)
    return blocks


def _assign_loose(blocks: list[list[_Line]], by_cell: bool) -> dict[int, list[_Line]]:
    """Answers without headings: four blocks in order, else by their topic words."""
    if by_cell:
        cells: dict[int, list[_Line]] = {}
        for b in blocks:
            cells.setdefault(b[0].cell, []).extend(b)
        if len(cells) == N_QUESTIONS:
            return {q: lines for q, lines in zip(range(1, N_QUESTIONS + 1), cells.values(), strict=True)}
    if len(blocks) == N_QUESTIONS:
        return {q: b for q, b in zip(range(1, N_QUESTIONS + 1), blocks, strict=True)}
    out: dict[int, list[_Line]] = {}
    current = None
    for b in blocks:
        text = " ".join(x.text for x in b)
        if len(blocks) == 1 and len(tokens(text)) > 60:
            # One long paragraph with every answer in it: go sentence by sentence.
            for sentence in re.split(r"(?<=[.!?])\s+", text):
                current = _content_topic(sentence) or current
                if current:
                    out.setdefault(current, []).append(_Line(b[0].cell, sentence))
            continue
        current = _content_topic(text) or current
        if current:
            out.setdefault(current, []).extend(b)
    return out


def _join(lines: list[_Line]) -> str:
    text = "\n".join(x.text for x in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def locate_answers(sub: Submission, prints: Fingerprints | None = None) -> list[MLOpsAnswer]:
    """Find the answer to each of the four ML Ops questions.

    Looks from the Task 6 heading on (or, without one, from an "ML Ops" heading, or
    after the last code cell that fits a model), in markdown cells and in the comments
    and docstrings of code cells. Answers are split at headings that name a question
    ("### 1. Model deployment", "**Q2 Monitoring**", "2) CI/CD: ..."); without any, four
    cells or paragraphs are taken in order, else each is placed by its topic words. The
    questions themselves (recognised by their fingerprints, also when the candidate
    writes below them in the same cell), placeholders ("*Your answer here.*", "TODO")
    and horizontal rules are removed.

    Parameters
    ----------
    sub : Submission
    prints : Fingerprints, optional
        Question and sample fingerprints; defaults to the packaged ones.

    Returns
    -------
    list of MLOpsAnswer
        Always four, for questions 1-4 in order; ``text`` is empty and ``words`` 0 when
        no answer was found.
    """
    fp = prints or load_fingerprints()
    cells, anchored = _region(sub)
    if not anchored:
        # With no heading to anchor on, a code cell counts only if its comments head an answer.
        cells = [c for c in cells if c.cell_type == "markdown" or any(
            (mk := _marker(ln.text)) is not None and mk.question is not None for ln in _cell_lines(c))]
    sections, loose = _sections(cells, fp)
    found: dict[int, list[_Line]] = {}
    for sec in sections:
        assert sec.question is not None
        for block in _blocks(sec.lines, fp):
            found.setdefault(sec.question, []).extend(block + [_Line(block[0].cell, "")])
    loose_blocks = _blocks(loose, fp)
    if not found:
        # No heading with an answer under it (at most the questions' own numbered list).
        # A leftover line such as "My answers to the four questions." is not an answer.
        loose_blocks = [b for b in loose_blocks if count_words(_join(b)) >= 8 or _content_topic(_join(b))]
        if not anchored:
            # Unanchored text must at least look like ML Ops answers: two topics or more.
            loose_blocks = [b for b in loose_blocks if _content_topic(_join(b))]
            if len({_content_topic(_join(b)) for b in loose_blocks}) < 2:
                loose_blocks = []
        found = _assign_loose(loose_blocks, by_cell=True)
    else:
        # Text outside any heading fills a question that has no answer yet, if its topic says so.
        for block in loose_blocks:
            q = _content_topic(_join(block))
            if q and q not in found and count_words(_join(block)) >= 20:
                found[q] = block
    answers: list[MLOpsAnswer] = []
    for q in range(1, N_QUESTIONS + 1):
        lines = found.get(q, [])
        text = _join(lines)
        words = count_words(text)
        if words == 0:
            text, lines = "", []
        cells_used = sorted({x.cell for x in lines if x.text.strip()})
        answers.append(MLOpsAnswer(
            question=q, text=text, cells=cells_used, words=words,
            sample_similarity=sample_similarity(text, q, fp) if words else 0.0,
        ))
    return answers


# --- batch ------------------------------------------------------------------------------------------------


def similar_pairs(
    answers: Mapping[str, Sequence[MLOpsAnswer]], threshold: float = 0.8, min_words: int = 15,
) -> list[tuple[str, str, int, float]]:
    """Pairs of candidates whose answers to the same question are near-identical.

    TF-IDF (words and word pairs, sublinear TF) per question over the batch, cosine
    similarity; answers shorter than ``min_words`` are left out.

    Parameters
    ----------
    answers : mapping of str to sequence of MLOpsAnswer
        Candidate name -> that candidate's answers.
    threshold : float
        Minimum cosine similarity to report.
    min_words : int

    Returns
    -------
    list of (str, str, int, float)
        ``(candidate_a, candidate_b, question, similarity)``, most similar first, with
        ``candidate_a < candidate_b``.
    """
    # Imported here: the batch stage needs scikit-learn, scoring must not.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    pairs: list[tuple[str, str, int, float]] = []
    for q in range(1, N_QUESTIONS + 1):
        names: list[str] = []
        texts: list[str] = []
        for name in sorted(answers):
            ans = next((a for a in answers[name] if a.question == q), None)
            if ans is not None and ans.words >= min_words:
                names.append(name)
                texts.append(" ".join(tokens(ans.text)))
        if len(texts) < 2:
            continue
        matrix = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[a-z0-9]+").fit_transform(texts)
        sim = cosine_similarity(matrix)
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                if sim[i, j] >= threshold:
                    pairs.append((names[i], names[j], q, round(float(sim[i, j]), 4)))
    return sorted(pairs, key=lambda p: (-p[3], p[2], p[0], p[1]))


# --- building the fingerprints (used by grader/data/make_fingerprints.py) --------------------------------


def build_question_prints(question_texts: Iterable[str]) -> dict[str, list[str]]:
    """Fingerprints of the question text: 3-shingles over each text, and its short lines.

    Parameters
    ----------
    question_texts : iterable of str
        The questions (and instructions) exactly as the notebooks give them.

    Returns
    -------
    dict
        ``{"shingles": [...], "lines": [...]}``, sorted hex hashes.
    """
    sh: set[str] = set()
    lines: set[str] = set()
    for text in question_texts:
        sh |= shingles(tokens(text), QUESTION_SHINGLE)
        for ln in text.splitlines():
            toks = tokens(ln)
            if toks:
                lines.add(stable_hash(" ".join(toks)))
            for part in re.split(r"(?<=[.?!:])\s+", ln):
                if tokens(part):
                    lines.add(stable_hash(" ".join(tokens(part))))
    return {"shingles": sorted(sh), "lines": sorted(lines)}


def build_sample_prints(samples: Mapping[int, str]) -> dict[str, Any]:
    """Fingerprints of the sample answers: 5-shingles and a hashed TF-IDF vector per question.

    Parameters
    ----------
    samples : mapping of int to str
        Question -> the sample answer text.

    Returns
    -------
    dict
        ``{"questions": {q: {"shingles", "tf"}}, "idf": {...}, "idf_default": float}``.
    """
    n_docs = len(samples)
    df: Counter[str] = Counter()
    for text in samples.values():
        df.update({stable_hash(stem(t)) for t in tokens(text) if t not in STOPWORDS and len(t) > 1})
    # Smoothed idf, as scikit-learn's; a term no sample uses gets the highest weight.
    idf = {h: math.log((1 + n_docs) / (1 + c)) + 1.0 for h, c in df.items()}
    idf_default = math.log(1 + n_docs) + 1.0
    questions: dict[str, Any] = {}
    for q, text in sorted(samples.items()):
        vec = term_vector(text, idf, idf_default)
        questions[str(q)] = {
            "shingles": sorted(shingles(tokens(text))),
            "tf": {h: round(w, 5) for h, w in sorted(vec.items())},
        }
    return {"questions": questions, "idf": {h: round(w, 5) for h, w in sorted(idf.items())},
            "idf_default": round(idf_default, 5)}


def write_fingerprints(path: Path, question_texts: Iterable[str], samples: Mapping[int, str],
                       source: Mapping[str, str]) -> dict[str, Any]:
    """Write ``handout_samples.json``: hashes only.

    Parameters
    ----------
    path : Path
    question_texts : iterable of str
    samples : mapping of int to str
    source : mapping of str to str
        Provenance (file names and their SHA-256) recorded in the file.

    Returns
    -------
    dict
        What was written.
    """
    data: dict[str, Any] = {
        "format": 1,
        "hash": "blake2b-48bit of space-joined lower-case tokens",
        "shingle_words": SHINGLE,
        "question_shingle_words": QUESTION_SHINGLE,
        "source": dict(source),
        "question_text": build_question_prints(question_texts),
        **build_sample_prints(samples),
    }
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return data
