"""Batch grading benchmarks (run on demand; not part of the test suite).

    .venv/bin/python benchmarks/bench_batch.py            # the real measurement (quiet machine!)
    .venv/bin/python benchmarks/bench_batch.py --smoke    # tiny notebooks, a minute, checks the scripts

Writes ``benchmarks/results.md`` (with the machine's core count and load) and prints it.

1. overhead: ``grade check`` of the reference (public checks) against raw nbclient
   execution of the same notebook (``raw_nbclient.py``), alternating A/B/C in one run;
   the median of the per-round ratios, target <= 1.05; and the full interviewer grade
   (``grade``: hidden checks, isolation auto), target <= 1.35.
2. rescore: ``grade rescore`` of 40 cached submissions (one evidence folder copied 40
   times under different names) with a changed point value: under 2 s in total.
3. batch: 8 notebooks with ``-j 2``: wall time against the CPU-bound limit (the CPU
   seconds of the same 8 at ``-j 1``, divided by 2 cores), target <= 1.15x; and the
   speed-up over ``-j 1``.
4. memory: peak RSS of the grader processes themselves (the batch parent and its
   workers, not kernels) during the ``-j 2`` batch, target < 200 MB; from getrusage in
   each process (summary.json) and, when psutil is installed, sampled from outside.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "submissions" / "examples"
RESULTS = Path(__file__).resolve().parent / "results.md"
GRADE = [sys.executable, "-m", "grader.cli"]


# --- measuring ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    grader_rss_mb: float
    rc: int


@dataclass
class TreeSampler:
    """CPU seconds and grader RSS of a process tree, sampled from outside (psutil)."""

    pid: int
    interval: float = 0.1
    cpu: dict[tuple[int, float], float] = field(default_factory=dict)
    rss_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        self.cpu[(p.pid, p.create_time())] = t.user + t.system
                        cmd = " ".join(p.cmdline())
                        if p.pid == self.pid or "grader.worker" in cmd:  # grader processes, not kernels
                            self.rss_mb = max(self.rss_mb, p.memory_info().rss / 1024**2)
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()


def has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def timed(cmd: list[str], env: dict[str, str] | None = None, sample: bool = False) -> Run:
    """Run ``cmd``; wall seconds, CPU seconds of its whole tree, peak grader RSS."""
    with tempfile.TemporaryFile() as errfile:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=errfile, cwd=ROOT)
        sampler = None
        if sample and has_psutil():
            sampler = TreeSampler(proc.pid)
            thread = threading.Thread(target=sampler.run, daemon=True)
            thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        print(f"warning: {' '.join(cmd[:6])} ... exited {proc.returncode}: {err.strip()[-300:]}", file=sys.stderr)
    # wait4's rusage counts reaped descendants only; a sandboxed kernel may never be reaped by us
    cpu = usage.ru_utime + usage.ru_stime
    rss = 0.0
    if sampler is not None:
        sampler.stop()
        thread.join()
        cpu = max(cpu, sum(sampler.cpu.values()))
        rss = sampler.rss_mb
    return Run(wall=wall, cpu=cpu, grader_rss_mb=rss, rc=proc.returncode)


def env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


# --- inputs ---------------------------------------------------------------------------------------------------


def tiny_notebooks(folder: Path, n: int) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import notebook

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        cells = [("md", "# Task 1: Load the data"),
                 ("code", f"import pandas as pd\ndf = pd.DataFrame({{'a': list(range({10 + i}))}})\ndf.head()"),
                 ("code", "df.describe()")]
        paths.append(notebook(cells, folder / f"tiny{i:02d}.ipynb"))
    return paths


def example_notebooks(folder: Path, n: int) -> list[Path]:
    """``n`` example submissions (the reference first), copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ["reference.ipynb"] + sorted(p.name for p in EXAMPLES.glob("*.ipynb") if p.name != "reference.ipynb")
    out = []
    for i in range(n):
        src = EXAMPLES / names[i % len(names)]
        dst = folder / (src.name if i < len(names) else f"{src.stem}-{i}.ipynb")
        shutil.copy(src, dst)
        out.append(dst)
    return out


def changed_rubric(folder: Path) -> Path:
    data = yaml.safe_load((ROOT / "rubrics" / "staff-ds.yaml").read_text())
    data["tasks"][0]["checks"][0]["points"] += 1
    path = folder / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --- the four benchmarks --------------------------------------------------------------------------------------


def bench_overhead(work: Path, nb: Path, rounds: int) -> dict[str, object]:
    raw, check, full = [], [], []
    threads = env_with(OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    for r in range(rounds):
        # A, B, C alternate within a round so that drifting machine load hits all three alike
        raw.append(timed([sys.executable, str(ROOT / "benchmarks" / "raw_nbclient.py"), str(nb)], env=threads).wall)
        check.append(timed([*GRADE, "check", str(nb), "-o", str(work / f"check{r}"), "--no-cache"]).wall)
        full.append(timed([*GRADE, str(nb), "-o", str(work / f"full{r}"), "--no-cache"]).wall)
    return {"notebook": nb.name, "rounds": rounds, "raw_s": raw, "check_s": check, "full_s": full,
            "check_ratio": statistics.median(c / a for c, a in zip(check, raw, strict=True)),
            "full_ratio": statistics.median(f / a for f, a in zip(full, raw, strict=True))}


def bench_rescore(work: Path, source: Path, n: int, rounds: int) -> dict[str, object]:
    out = work / "rescore40"
    for i in range(n):
        dst = out / f"cand{i:02d}"
        dst.mkdir(parents=True)
        shutil.copy(source / "evidence.json", dst / "evidence.json")
    rubric = changed_rubric(work)
    timed([*GRADE, "rescore", str(out)])  # first pass: scorecards and markers exist from here on
    walls = []
    for r in range(rounds):
        args = ["--rubric", str(rubric)] if r % 2 == 0 else []  # the rubric changes on every round
        walls.append(timed([*GRADE, "rescore", str(out), *args]).wall)
    return {"submissions": n, "rounds": rounds, "walls_s": walls, "median_s": statistics.median(walls)}


def bench_batch(work: Path, subs: Path, cores: int) -> dict[str, object]:
    one = timed([*GRADE, "batch", str(subs), "-o", str(work / "j1"), "-j", "1", "--no-cache"], sample=True)
    two = timed([*GRADE, "batch", str(subs), "-o", str(work / "j2"), "-j", "2", "--no-cache"], sample=True)
    used = min(2, cores)
    limit = one.cpu / used
    summary = json.loads((work / "j2" / "summary.json").read_text())
    timings = summary["timings"]
    return {"notebooks": summary["counts"]["total"], "counts": summary["counts"], "j1_wall_s": one.wall,
            "j2_wall_s": two.wall, "cpu_s": one.cpu, "cpu_bound_limit_s": limit, "vs_limit": two.wall / limit,
            "speedup": one.wall / two.wall, "cores_used": used,
            "parent_rss_mb": timings.get("parent_maxrss_mb", 0.0),
            "worker_rss_mb": timings.get("worker_maxrss_mb_max", 0.0), "sampled_rss_mb": two.grader_rss_mb,
            "threads_per_kernel": timings.get("threads_per_kernel")}


# --- report ---------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def machine() -> dict[str, object]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    from grader import __version__

    return {"cores": os.cpu_count(), "usable_cores": affinity, "load": os.getloadavg(), "python": platform.python_version(),
            "platform": platform.platform(), "grader": __version__, "commit": commit.strip()}


def report(mode: str, m: dict[str, object], ov: dict, rs: dict, bt: dict, end_load: tuple) -> str:
    rss = max(bt["parent_rss_mb"], bt["worker_rss_mb"], bt["sampled_rss_mb"])
    lines = [
        "# Batch benchmarks",
        "",
        f"Mode: **{mode}**. Run with `.venv/bin/python benchmarks/bench_batch.py"
        + (" --smoke" if mode != "full" else "") + "`.",
        "",
        f"Machine: {m['cores']} cores ({m['usable_cores']} usable), load average at start "
        f"{'/'.join(f'{x:.2f}' for x in m['load'])}, at end {'/'.join(f'{x:.2f}' for x in end_load)}; "
        f"Python {m['python']}; {m['platform']}; grader {m['grader']} at {m['commit']}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}.",
        "",
    ]
    if mode != "full":
        lines += ["> Smoke run with tiny notebooks on a shared, busy machine: it checks that the scripts work,",
                  "> the numbers are not the measurement. Run the full mode on a quiet machine.", ""]
    lines += [
        "| # | measure | value | target | met |",
        "|---|---|---|---|---|",
        f"| 1 | `grade check` / raw nbclient, median of {ov['rounds']} alternating rounds ({ov['notebook']}) "
        f"| {ov['check_ratio']:.3f} | <= 1.05 | {verdict(ov['check_ratio'] <= 1.05)} |",
        f"| 1 | full interviewer `grade` / raw nbclient | {ov['full_ratio']:.3f} | <= 1.35 "
        f"| {verdict(ov['full_ratio'] <= 1.35)} |",
        f"| 2 | `grade rescore` of {rs['submissions']} cached submissions, median wall of {rs['rounds']} "
        f"| {rs['median_s']:.2f} s | < 2 s | {verdict(rs['median_s'] < 2)} |",
        f"| 3 | `-j 2` wall / CPU-bound limit ({bt['cpu_s']:.1f} CPU s / {bt['cores_used']} cores "
        f"= {bt['cpu_bound_limit_s']:.1f} s) | {bt['vs_limit']:.2f}x | <= 1.15x | {verdict(bt['vs_limit'] <= 1.15)} |",
        f"| 3 | speed-up of `-j 2` over `-j 1` ({bt['j1_wall_s']:.1f} s -> {bt['j2_wall_s']:.1f} s, "
        f"{bt['notebooks']} notebooks) | {bt['speedup']:.2f}x | (2 cores: up to 2x) | |",
        f"| 4 | peak RSS of grader processes (parent {bt['parent_rss_mb']:.0f} MB, workers "
        f"{bt['worker_rss_mb']:.0f} MB, sampled {bt['sampled_rss_mb']:.0f} MB) | {rss:.0f} MB | < 200 MB "
        f"| {verdict(rss < 200)} |",
        "",
        "Raw timings (seconds):",
        "",
        f"- overhead rounds: raw {fmt(ov['raw_s'])}; check {fmt(ov['check_s'])}; full {fmt(ov['full_s'])}",
        f"- rescore rounds: {fmt(rs['walls_s'])}",
        f"- batch: {json.dumps(bt['counts'])}, {bt['threads_per_kernel']} thread(s) per kernel at -j 2",
        "",
    ]
    return "\n".join(lines)


def fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny notebooks and fewer rounds (checks the scripts)")
    p.add_argument("--rounds", type=int, help="overhead/rescore rounds (default 5; smoke 2)")
    p.add_argument("--keep", type=Path, help="keep the work folder here instead of a temporary one")
    p.add_argument("--no-write", action="store_true", help="print the results only")
    args = p.parse_args()
    rounds = args.rounds or (2 if args.smoke else 5)
    m = machine()
    work = args.keep or Path(tempfile.mkdtemp(prefix="grade-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.smoke:
            subs = work / "subs"
            tiny_notebooks(subs, 4)
            nb = subs / "tiny00.ipynb"
        else:
            subs = work / "subs"
            example_notebooks(subs, 8)
            nb = subs / "reference.ipynb"
        print(f"[1/3] overhead on {nb.name}, {rounds} rounds ...", flush=True)
        ov = bench_overhead(work, nb, rounds)
        print("[2/3] batch -j 1 and -j 2 ...", flush=True)
        bt = bench_batch(work, subs, int(m["usable_cores"] or 1))
        print("[3/3] rescore of 40 ...", flush=True)
        rs = bench_rescore(work, work / "j2" / nb.stem, 40, rounds)
        text = report("smoke" if args.smoke else "full", m, ov, rs, bt, os.getloadavg())
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
