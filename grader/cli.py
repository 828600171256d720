"""The ``grade`` command. Thin: parse flags, call the pipeline, map failures to exit codes.

    grade PATH [-o OUT] [--rubric FILE] ...      interviewer grade of one notebook
    grade check PATH                             candidate self-check (public checks only)
    grade doctor                                 what isolation this machine supports
    grade handout REFERENCE -o HANDOUT           candidate handout from the reference
    grade rubric validate|show FILE              rubric tooling
    grade stats OUT                              rubric health of a batch folder (writes OUT/stats.json)

Exit codes: 0 graded, 1 --fail-under not met, 2 bad input or usage, 3 grading could not
run (grader or environment failure).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__
from grader.exceptions import EXIT_BAD_INPUT
from grader.exceptions import EXIT_CANNOT_RUN
from grader.exceptions import EXIT_FAIL_UNDER
from grader.exceptions import EXIT_OK
from grader.exceptions import GraderFailure
from grader.exceptions import UsageError

if TYPE_CHECKING:
    from grader.models import Scorecard

GIB = 1024**3


def _memory(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": GIB, "t": 1024 * GIB}
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use 4G, 512M, ...)") from None


def _add_exec_flags(p: argparse.ArgumentParser, isolation_default: str) -> None:
    g = p.add_argument_group("execution")
    g.add_argument("--timeout-cell", type=float, default=120.0, metavar="S", help="per-cell timeout (default 120)")
    g.add_argument("--timeout-total", type=float, default=900.0, metavar="S", help="whole-run timeout (default 900)")
    g.add_argument("--kernel", metavar="NAME", help="an installed Jupyter kernel instead of the grader's own")
    g.add_argument("--isolation", choices=("auto", "strict", "limits", "none"), default=isolation_default,
                   help=f"sandbox level (default {isolation_default})")
    g.add_argument("--memory", type=_memory, default=4 * GIB, metavar="SIZE", help="address-space limit (default 4G)")
    g.add_argument("--max-size", type=_memory, default=50 * 1024**2, metavar="SIZE",
                   help="largest notebook accepted (default 50M)")
    g.add_argument("--keep-workdir", action="store_true", help="keep the temporary working directory")
    g.add_argument("--no-cache", action="store_true", help="execute even if cached evidence exists")


def _add_score_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", type=Path, metavar="OUT", help="output folder (default grading/<notebook stem>)")
    p.add_argument("--rubric", type=Path, metavar="FILE", help="rubric YAML (default: the shipped public rubric)")
    p.add_argument("--fail-under", type=float, metavar="PERCENT", help="exit 1 when the score is below PERCENT")
    p.add_argument("--name", help="candidate name or id shown on the scorecard")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grade", description="Grade Staff Data Scientist Python Test notebooks.")
    p.add_argument("--version", action="version", version=f"grade {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("grade", help="interviewer grade of one notebook (the default command)")
    g.add_argument("path", type=Path)
    _add_score_flags(g)
    g.add_argument("--hidden-rubric", type=Path, metavar="FILE",
                   help="hidden rubric to add (default: $GRADER_HIDDEN_RUBRIC or the checkout's)")
    g.add_argument("--self-check", action="store_true", help="same as 'grade check'")
    g.add_argument("--anonymize", action="store_true",
                   help="blind grading: a candidate id instead of the name in every output (default folder "
                        "grading/<id>; the mapping goes to OUT/../anonymization.csv)")
    _add_exec_flags(g, "auto")

    c = sub.add_parser("check", help="candidate self-check: public checks only")
    c.add_argument("path", type=Path)
    _add_score_flags(c)
    _add_exec_flags(c, "none")

    sub.add_parser("doctor", help="print the isolation level this machine supports and why")

    o = sub.add_parser("override", help="correct one check's points, with a reason (kept through rescores)")
    o.add_argument("folder", type=Path, help="a submission's output folder (holds evidence.json)")
    o.add_argument("check", help="check id, e.g. t4_auc")
    o.add_argument("--points", type=float, required=True)
    o.add_argument("--reason", required=True)
    o.add_argument("--by", default=os.environ.get("USER", ""), help="who (default $USER)")
    o.add_argument("--rubric", type=Path, metavar="FILE")

    m = sub.add_parser("comment", help="add an interviewer comment (never shown to the candidate)")
    m.add_argument("folder", type=Path)
    m.add_argument("text")
    m.add_argument("--task", type=int, help="attach to a task (default: the whole submission)")
    m.add_argument("--by", default=os.environ.get("USER", ""))
    m.add_argument("--rubric", type=Path, metavar="FILE")

    h = sub.add_parser("handout", help="derive the candidate handout from the reference solution")
    h.add_argument("source", type=Path, help="reference notebook (solution cells tagged 'solution')")
    h.add_argument("-o", "--out", type=Path, required=True, metavar="FILE", help="handout notebook to write")

    r = sub.add_parser("rubric", help="validate or show a rubric")
    rs = r.add_subparsers(dest="rubric_command", metavar="ACTION", required=True)
    rv = rs.add_parser("validate", help="check a rubric against the schema")
    rv.add_argument("file", type=Path)
    rw = rs.add_parser("show", help="table of tasks, checks and points")
    rw.add_argument("file", type=Path, nargs="?")
    _add_batch_parsers(sub)
    return p


COMMANDS = {"grade", "check", "doctor", "rubric", "batch", "rescore", "merge", "handout", "override", "comment",
            "stats"}


def _normalize(argv: list[str]) -> list[str]:
    # `grade PATH` is `grade grade PATH`: the default command needs no name
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        return ["grade", *argv]
    return argv


def _exec_options(args: argparse.Namespace, kernels: int = 1):
    """Execution settings; ``kernels`` running at once share the cores (threads per kernel)."""
    from grader.batch import available_cores
    from grader.options import ExecOptions
    from grader.sandbox import Limits

    if args.timeout_cell <= 0 or args.timeout_total <= 0:
        raise UsageError("timeouts must be positive")
    threads = max(1, available_cores() // kernels)
    return ExecOptions(cell_timeout=args.timeout_cell, total_timeout=args.timeout_total, kernel=args.kernel,
                       isolation=args.isolation, limits=Limits(memory_bytes=args.memory, threads=threads))


def cmd_grade(args: argparse.Namespace, candidate: bool) -> int:
    from grader import anonymize
    from grader import report
    from grader.pipeline import GradeOptions
    from grader.pipeline import grade_notebook
    from grader.rubric import load_rubric

    rubric = load_rubric(args.rubric, hidden=False if candidate else getattr(args, "hidden_rubric", None))
    blind = not candidate and getattr(args, "anonymize", False)
    ident = _anonymous_id(args.path) if blind else None
    out = args.out or Path("grading") / (ident or args.path.stem)
    if ident is not None:
        anonymize.mark(out, ident)  # before grading: every report written into the folder is anonymous
    views = ("candidate",) if candidate else ("interviewer", "candidate")
    from grader.pipeline import needs_rerun

    rerun = not candidate and needs_rerun(rubric)
    # the hidden-data re-run is a second kernel at the same time: each gets half the cores
    opts = GradeOptions(out=out, exec=_exec_options(args, kernels=2 if rerun else 1), views=views,
                        use_cache=not args.no_cache, keep_workdir=args.keep_workdir, max_bytes=args.max_size,
                        name=args.name, hidden_rerun=rerun)
    result = grade_notebook(args.path, rubric, opts)
    card = result.card
    marked = anonymize.marked_id(out)  # the folder may have been graded blind before, without the flag now
    if marked is not None:
        card = _finish_anonymous(args.path, out, marked, card)
    card = report.candidate_view(card) if candidate else card
    report.print_summary(card, [str(f) for f in result.files])
    if candidate:
        print("Your final grade also includes checks you cannot see here.")
    elif not rubric.hidden_included:
        print("Hidden checks were not run: no hidden rubric found (--hidden-rubric or $GRADER_HIDDEN_RUBRIC).")
    if args.fail_under is not None and card.percent < args.fail_under:
        print(f"score {card.percent:.1f}% is below --fail-under {args.fail_under:g}%", file=sys.stderr)
        return EXIT_FAIL_UNDER
    return EXIT_OK


def _anonymous_id(path: Path) -> str:
    from grader import anonymize
    from grader.batch import file_sha256

    try:
        sha = file_sha256(path)
    except OSError:
        sha = ""  # grading reports the unreadable file; the folder still needs a name
    return anonymize.unique_ids([(path, sha)])[path]


def _finish_anonymous(path: Path, out: Path, ident: str, card: Scorecard) -> Scorecard:
    """Blind single grade: scrub the log and executed notebook, record the mapping, return the anonymous card.

    The mapping goes to ``OUT/../anonymization.csv``, beside the anonymized folders (as a
    batch keeps it beside its submission folders), never inside one.
    """
    from grader import anonymize

    scrubber = anonymize.Scrubber(ident, card.candidate, [str(path), str(path.resolve()), card.submission])
    anonymize.scrub_files(out, scrubber)
    anonymize.update_mapping(out.resolve().parent / anonymize.MAPPING,
                             [{"id": ident, "folder": out.name, "candidate": card.candidate, "file": str(path),
                               "sha256": card.sha256}])
    return anonymize.anonymize_card(card, scrubber)


def cmd_doctor(args: argparse.Namespace) -> int:
    from grader import sandbox

    print("\n".join(sandbox.doctor()))
    return EXIT_OK


def cmd_rubric(args: argparse.Namespace) -> int:
    from grader.rubric import load_rubric
    from grader.rubric import parse_rubric

    if args.rubric_command == "validate":
        r = parse_rubric(args.file)
        print(f"{args.file}: valid ({r.name} {r.version}, {len(r.checks())} checks, {r.max_points():g} points)")
        return EXIT_OK
    r = load_rubric(args.file)
    print(f"{r.name} {r.version}: {r.max_points():g} points")
    for task in r.tasks:
        print(f"Task {task.id}: {task.title} ({sum(c.points for c in task.checks):g} points)")
        for c in task.checks:
            print(f"  {c.points:>4g}  {c.id:<28} {c.visibility:<7} {c.title}")
    for fid, f in r.findings.items():
        print(f"finding {fid}: -{f.penalty:g}  {f.title}")
    return EXIT_OK


def cmd_handout(args: argparse.Namespace) -> int:
    from grader.handout import write_handout

    nb = write_handout(args.source, args.out)
    print(f"wrote {args.out} ({len(nb.cells)} cells)")
    return EXIT_OK


def _correct(args: argparse.Namespace, record: Callable[..., object]) -> int:
    from grader import report
    from grader.pipeline import rescore_folder
    from grader.rubric import load_rubric
    from grader.score import score

    rubric = load_rubric(args.rubric)
    folder: Path = args.folder
    from grader.models import Evidence

    ev_path = folder / "evidence.json"
    if not ev_path.exists():
        raise UsageError(f"{folder}: no evidence.json here; give a submission's output folder")
    automatic = score(Evidence.model_validate_json(ev_path.read_text(encoding="utf-8")), rubric)
    record(folder, automatic)
    from grader.anonymize import card_for_folder

    card = card_for_folder(rescore_folder(folder, rubric), folder)  # a blind folder stays blind on the terminal too
    report.print_summary(card, [str(folder / "overrides.yaml")])
    return EXIT_OK


def cmd_override(args: argparse.Namespace) -> int:
    from grader.overrides import add_override

    return _correct(args, lambda folder, card: add_override(folder, card, args.check, args.points, args.reason,
                                                            args.by))


def cmd_comment(args: argparse.Namespace) -> int:
    from grader.overrides import add_comment

    return _correct(args, lambda folder, card: add_comment(folder, args.text, args.task, args.by))


# --- grade batch / rescore / merge (many notebooks; see grader.batch) -----------------------------------------


def _add_batch_parsers(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("batch", help="grade many notebooks, each in its own worker process and kernel")
    b.add_argument("inputs", nargs="+", metavar="DIR_OR_GLOB",
                   help="folders (searched recursively for *.ipynb), glob patterns or notebook files")
    b.add_argument("-o", "--out", type=Path, default=Path("grading") / "batch", metavar="OUT",
                   help="batch folder (default grading/batch)")
    b.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="submissions graded at once (default 1); each kernel gets cores//N threads")
    b.add_argument("--rubric", type=Path, metavar="FILE", help="rubric YAML (default: the shipped public rubric)")
    b.add_argument("--hidden-rubric", type=Path, metavar="FILE",
                   help="hidden rubric to add (default: $GRADER_HIDDEN_RUBRIC or the checkout's)")
    _add_gate_flags(b)
    b.add_argument("--gradescope", action="store_true", help="also write a Gradescope results.json per submission")
    b.add_argument("--force", action="store_true", help="re-grade finished submissions (evidence is still reused)")
    b.add_argument("--shard", metavar="I/N", help="grade only the I-th of every N notebooks (sorted; 1-based)")
    b.add_argument("--dask", metavar="ADDRESS", help="run the submissions on this Dask distributed scheduler")
    b.add_argument("--anonymize", action="store_true",
                   help="blind grading: candidate ids instead of names in every output and folder name; "
                        "the mapping goes to OUT/anonymization.csv")
    _add_exec_flags(b, "auto")

    r = sub.add_parser("rescore", help="re-score a batch folder from its cached evidence (executes nothing)")
    r.add_argument("out", type=Path, metavar="OUT")
    r.add_argument("--rubric", type=Path, metavar="FILE", help="rubric YAML (default: the one the batch used)")
    r.add_argument("--hidden-rubric", type=Path, metavar="FILE", help="hidden rubric to add")
    r.add_argument("--gradescope", action="store_true", default=None, help="(re)write Gradescope results.json")
    r.add_argument("-j", "--jobs", type=int, metavar="N", help="processes to re-score in (default: one per core "
                   "for large batches)")
    _add_gate_flags(r)

    m = sub.add_parser("merge", help="join shard batch folders into one CSV, JUnit file, summary and index")
    m.add_argument("outs", nargs="+", type=Path, metavar="OUT")
    m.add_argument("-o", "--out", type=Path, required=True, metavar="MERGED", dest="merged",
                   help="the merged batch folder")
    _add_gate_flags(m)

    s = sub.add_parser("stats", help="rubric health of a batch folder: per-check rates, overrides, discrimination, "
                       "flags (writes OUT/stats.json)")
    s.add_argument("out", type=Path, metavar="OUT")


def _add_gate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fail-under", type=float, metavar="PERCENT", help="exit 1 when any score is below PERCENT")
    p.add_argument("--fail-under-mean", action="store_true", help="with --fail-under: compare the mean score instead")


def _batch_exit(report, args: argparse.Namespace) -> int:
    """Print the batch's one-line summary; exit 3 when a row is an error, 1 when --fail-under is not met."""
    from grader.outputs import below_threshold

    counts = {s: sum(e.status == s for e in report.entries) for s in ("graded", "partial", "bad_input", "error")}
    print(f"{len(report.entries)} submissions: " + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items())
          + f" ({report.wall_seconds:.1f}s); wrote {', '.join(str(f) for f in report.files)}")
    code = EXIT_OK
    if report.errors:
        classes = sorted({e.error_class or "error" for e in report.errors})
        first = report.errors[0]
        print(f"grade: {len(report.errors)} submission(s) could not be graded ({', '.join(classes)}): "
              f"{first.folder}: {first.message}", file=sys.stderr)
        code = EXIT_CANNOT_RUN
    if args.fail_under is not None:
        message = below_threshold(report.entries, args.fail_under, args.fail_under_mean)
        if message:
            print(message, file=sys.stderr)
            code = code or EXIT_FAIL_UNDER
    return code


def cmd_batch(args: argparse.Namespace) -> int:
    from grader.batch import BatchOptions
    from grader.batch import parse_shard
    from grader.batch import run_batch
    from grader.pipeline import needs_rerun
    from grader.rubric import load_rubric

    if args.jobs < 1:
        raise UsageError("-j must be at least 1")
    shard = parse_shard(args.shard) if args.shard else None
    rubric = load_rubric(args.rubric, hidden=args.hidden_rubric)
    opts = BatchOptions(inputs=tuple(args.inputs), out=args.out, jobs=args.jobs, exec=_exec_options(args),
                        use_cache=not args.no_cache, force=args.force or args.no_cache, keep_workdir=args.keep_workdir,
                        max_bytes=args.max_size, hidden_rerun=needs_rerun(rubric),
                        gradescope=args.gradescope, shard=shard, dask=args.dask, rubric_path=args.rubric,
                        hidden_rubric_path=args.hidden_rubric, anonymize=args.anonymize)
    return _batch_exit(run_batch(opts, rubric), args)


def cmd_rescore(args: argparse.Namespace) -> int:
    from grader.batch import read_manifest
    from grader.batch import rescore
    from grader.rubric import load_rubric

    manifest = read_manifest(args.out)
    path, hidden = args.rubric, args.hidden_rubric
    if path is None and manifest is not None and manifest.rubric_path:
        path = Path(manifest.rubric_path)
    if hidden is None and manifest is not None and manifest.hidden_rubric_path:
        hidden = Path(manifest.hidden_rubric_path)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("-j must be at least 1")
    rubric = load_rubric(path, hidden=hidden)
    return _batch_exit(rescore(args.out, rubric, gradescope=args.gradescope, jobs=args.jobs), args)


def cmd_merge(args: argparse.Namespace) -> int:
    from grader.batch import merge

    return _batch_exit(merge(args.outs, args.merged), args)


def cmd_stats(args: argparse.Namespace) -> int:
    """Rubric health of a batch folder from its cached scorecards (executes and re-scores nothing)."""
    from grader import stats
    from grader.batch import batch_folders
    from grader.batch import entry_from_folder

    out: Path = args.out
    if not out.is_dir():
        raise UsageError(f"{out}: no such batch folder")
    entries = [e for f in batch_folders(out) if (e := entry_from_folder(f)) is not None]
    if not entries:
        raise UsageError(f"{out}: no finished submissions (no */.done): run grade batch or grade rescore first")
    health = stats.rubric_health([e.card for e in entries])
    print("\n".join(stats.table_lines(health)))
    print(f"wrote {stats.write_stats(out, health)}")
    return EXIT_OK


def _batch_handlers() -> dict[str, Callable[[argparse.Namespace], int]]:
    return {"batch": cmd_batch, "rescore": cmd_rescore, "merge": cmd_merge, "stats": cmd_stats}


def dispatch(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "grade": lambda a: cmd_grade(a, candidate=a.self_check),
        "check": lambda a: cmd_grade(a, candidate=True),
        "doctor": cmd_doctor,
        "rubric": cmd_rubric,
        "handout": cmd_handout,
        "override": cmd_override,
        "comment": cmd_comment,
    }
    handlers.update(_batch_handlers())
    return handlers[args.command](args)


def main(argv: list[str] | None = None) -> int:
    argv = _normalize(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    if not argv:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
        return int(e.code or 0)
    if os.environ.get("GRADER_RUNNING") and args.command in ("grade", "check"):
        # called from a notebook that is itself being graded: never recurse
        print("grade: skipped inside a grading kernel (GRADER_RUNNING is set)", file=sys.stderr)
        return EXIT_OK
    try:
        return dispatch(args)
    except GraderFailure as e:
        print(f"grade: {e.kind.replace('_', ' ')}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `grade ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as e:  # a grader bug: one line, the class named, exit 3
        if os.environ.get("GRADER_DEBUG"):
            raise
        print(f"grade: grader error: {type(e).__name__}: {e} (set GRADER_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_CANNOT_RUN


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
