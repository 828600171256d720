"""Blind grading: candidate names replaced by stable ids in every output.

A candidate's id is ``cand-`` plus the first 8 hex digits of an HMAC-SHA256 of the
notebook's content hash, so the same notebook gets the same id on every run and machine,
and nothing about the name can be read back from it. An output folder is marked
anonymized by ``anonymized.json`` (it holds the id, never the name); every report written
into a marked folder (scorecards, JUnit, Gradescope results, batch rows built from them)
goes through :func:`card_for_folder` / :func:`evidence_for_folder`, so re-scoring,
overrides and re-runs stay anonymous without anyone passing the flag again.

What is replaced: the candidate's name, the notebook's file name and stem and its paths,
wherever they occur in text (case-insensitively), and, for a name typed by a person
(``metadata.candidate.name`` or ``--name``), each of its words on its own. A name written
some other way in the notebook (initials, a nickname, inside a figure) is not caught.
``evidence.json`` keeps the real path and name: it is interviewer-side raw data. The
mapping id -> name/file goes to ``anonymization.csv`` beside the anonymized folders
(:data:`MAPPING`), never inside one and never linked from the index page.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.fileio import write_atomic
from grader.fileio import write_json
from grader.models import Evidence
from grader.models import Scorecard

ID_PREFIX = "cand-"
# Fixed and public on purpose: ids must be the same on every run and machine. The id
# hides the name, not the notebook: whoever holds the notebook knows its candidate anyway.
KEY = b"nbgrade-staffds/anonymize/v1"
MARKER = "anonymized.json"
MAPPING = "anonymization.csv"
MAPPING_COLUMNS = ["id", "folder", "candidate", "file", "sha256"]
# Shorter strings (initials, "Al") would replace ordinary letters all over the reports.
MIN_SECRET_CHARS = 3
# Base64 image data is never text to scrub (a match would corrupt the image).
_BINARY_KEYS = frozenset({"png_b64"})
_WORD_SPLIT = re.compile(r"[\s_.\-]+")


def candidate_id(digest: str) -> str:
    """``cand-`` + 8 hex digits of HMAC-SHA256(:data:`KEY`, ``digest``).

    >>> candidate_id("0" * 64) == candidate_id("0" * 64)
    True
    """
    return ID_PREFIX + hmac.new(KEY, digest.encode("utf-8"), hashlib.sha256).hexdigest()[:8]


def unique_ids(items: Iterable[tuple[Path, str]]) -> dict[Path, str]:
    """An id per ``(path, sha256)``: from the content hash; from the path when unreadable (``""``).

    Two identical notebooks would share an id: the later ones (by path) get a suffix from
    their resolved path, so ids stay unique and stable across runs and shards.
    """
    ids: dict[Path, str] = {}
    taken: set[str] = set()
    for path, sha in sorted(items, key=lambda kv: str(kv[0])):
        base = candidate_id(sha or "path:" + str(path.resolve()))
        ident = base
        if ident in taken:
            ident = f"{base}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:4]}"
        taken.add(ident)
        ids[path] = ident
    return ids


def candidate_name(path: Path) -> str:
    """The name ``grader.load`` would give the notebook (``metadata.candidate.name``, else the stem).

    Read with plain ``json`` (no validation): this runs in the batch parent, which never
    loads notebooks otherwise. An unreadable file gives its stem.
    """
    try:
        meta = json.loads(path.read_bytes()).get("metadata", {}).get("candidate") or {}
    except (OSError, ValueError, AttributeError):
        return path.stem
    name = meta.get("name") if isinstance(meta, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else path.stem


class Scrubber:
    """Replaces a candidate's name and file references in text with their id.

    Parameters
    ----------
    ident : str
        The candidate id.
    name : str
        The candidate's name as the scorecard had it.
    paths : iterable of str
        Paths of the notebook (as given, resolved); each, its file name and its stem are
        replaced (paths and file names by ``<id>.ipynb``, the rest by the id).
    """

    def __init__(self, ident: str, name: str, paths: Iterable[str] = ()) -> None:
        self.ident = ident
        self.file = f"{ident}.ipynb"
        exact: dict[str, str] = {}
        words: set[str] = set()
        stems: set[str] = set()
        for p in paths:
            if not p:
                continue
            exact[p.casefold()] = self.file
            exact[Path(p).name.casefold()] = self.file
            stems.add(Path(p).stem.casefold())
        for s in stems:
            exact.setdefault(s, ident)
        if name:
            exact.setdefault(name.casefold(), ident)
            if name.casefold() not in stems:
                # a name a person typed: its words count on their own ("Zelda" of "Zelda Quintero")
                words = {w.casefold() for w in _WORD_SPLIT.split(name) if len(w) >= MIN_SECRET_CHARS}
        self._exact = {k: v for k, v in exact.items() if len(k) >= MIN_SECRET_CHARS}
        alts = [re.escape(k) for k in sorted(self._exact, key=len, reverse=True)]
        alts += [rf"\b{re.escape(w)}\b" for w in sorted(words, key=len, reverse=True) if w not in self._exact]
        self._pattern = re.compile("|".join(alts), re.IGNORECASE) if alts else None

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(lambda m: self._exact.get(m.group(0).casefold(), self.ident), value)

    def data(self, value: Any) -> Any:
        """Every string in a JSON-like value scrubbed (dict keys too), base64 image data left alone."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k:
                    v if k in _BINARY_KEYS or (isinstance(k, str) and k.startswith("image/")) else self.data(v)
                    for k, v in value.items()}
        return value


# --- marked folders --------------------------------------------------------------------------------------------


def mark(folder: Path, ident: str) -> None:
    """Mark ``folder`` anonymized under ``ident`` (every report written into it is then anonymous)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / MARKER, {"id": ident, "scheme": "cand- + hmac-sha256(notebook sha256)[:8]"})


def marked_id(folder: Path) -> str | None:
    """The id ``folder`` is anonymized under, or None when it is not."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except OSError:
        return None
    except ValueError:
        # a damaged marker must not turn blind grading off: fall back to the folder's name
        return folder.name
    ident = data.get("id") if isinstance(data, dict) else None
    return ident if isinstance(ident, str) and ident else folder.name


def scrubber_for(card: Scorecard, ident: str) -> Scrubber:
    """The scrubber of a scorecard that still carries the real name and path."""
    return Scrubber(ident, card.candidate, [card.submission])


def anonymize_card(card: Scorecard, scrubber: Scrubber) -> Scorecard:
    data = scrubber.data(card.model_dump(mode="json"))
    data.update(candidate=scrubber.ident, submission=scrubber.file)
    return Scorecard.model_validate(data)


def anonymize_evidence(ev: Evidence, scrubber: Scrubber) -> Evidence:
    data = scrubber.data(ev.model_dump(mode="json"))
    data["submission"].update(name=scrubber.ident, path=scrubber.file)
    return Evidence.model_validate(data)


def card_for_folder(card: Scorecard, folder: Path) -> Scorecard:
    """``card`` as it may be written into ``folder``: anonymized when the folder is marked."""
    ident = marked_id(folder)
    if ident is None or card.candidate == ident:
        return card
    return anonymize_card(card, scrubber_for(card, ident))


def for_folder(card: Scorecard, ev: Evidence | None, folder: Path) -> tuple[Scorecard, Evidence | None]:
    """Scorecard and evidence as the reports of ``folder`` show them (anonymized when marked)."""
    ident = marked_id(folder)
    if ident is None or card.candidate == ident:
        return card, ev
    scrubber = Scrubber(ident, card.candidate, [card.submission] + ([ev.submission.path] if ev else []))
    return anonymize_card(card, scrubber), anonymize_evidence(ev, scrubber) if ev is not None else None


def scrub_files(folder: Path, scrubber: Scrubber, names: Iterable[str] = ("grade.log", "worker.log"),
                notebook: bool = True) -> None:
    """Scrub the text files ``names`` of a submission folder in place, and its ``executed.ipynb``.

    The executed notebook loses ``metadata.candidate`` and has its text scrubbed (images
    untouched). ``evidence.json`` is left alone: it keeps the real name and path.
    """
    for name in names:
        path = folder / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        new = scrubber.text(text)
        if new != text:
            write_atomic(path, new)
    path = folder / "executed.ipynb"
    if not notebook:
        return
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(nb, dict):
        if isinstance(nb.get("metadata"), dict):
            nb["metadata"].pop("candidate", None)
        write_atomic(path, json.dumps(scrubber.data(nb), indent=1, ensure_ascii=False) + "\n")


# --- the mapping file ------------------------------------------------------------------------------------------


def read_mapping(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [dict(r) for r in csv.DictReader(f)]
    except OSError:
        return []


def update_mapping(path: Path, rows: Iterable[dict[str, str]]) -> Path:
    """Add or replace rows (by id) of the mapping file ``path``; rows sorted by id."""
    merged = {r.get("id", ""): r for r in read_mapping(path)}
    for r in rows:
        merged[r["id"]] = {k: str(r.get(k, "")) for k in MAPPING_COLUMNS}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MAPPING_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(merged[k] for k in sorted(merged) if k)
    write_atomic(path, buf.getvalue())
    return path
