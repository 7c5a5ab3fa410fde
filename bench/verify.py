"""Benchmark: ``lock --check`` verifying real-sized lock bodies, 1,000 specs.

    .venv/bin/python bench/verify.py [--quick]

``lock --check`` checks every lock body against its spec (verify.py). Each of
the 1,000 locks carries the body of a bundled lock under its own header, and its
spec asks for 12 of that body's packages: a typical body (whisper-large-v3-turbo,
63 entries) and the largest one (qwen2.5-omni vllm, 233 entries, 5,202 hashes).
The 1,000 locks share that body, and lock --check reads, hashes and parses a
shared body once (lockread.py); in the "every body different" rows uv's note
naming the requirements file ("# via -r NAME.in") names the model, so that no
two bodies are the same bytes and every one is hashed and parsed. No network,
no uv resolution. Writes its own section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
import results  # noqa: E402
from launch import child_env  # noqa: E402

SOURCES = {
    "typical": REPO / "locks" / "whisper-large-v3-turbo" / "default" / "py3.11.txt",
    "largest": REPO / "locks" / "qwen2.5-omni" / "vllm" / "py3.11.txt",
}
HEADING = "## lock --check verifying lock bodies"


def make_project(root: Path, n: int, source: Path, distinct: bool = False) -> tuple[Path, int]:
    from compiler.lockfile import body_of, parse_lock
    from compiler.locking import render_lock
    from compiler.paths import Paths
    from compiler.plan import make_plan
    from compiler.request import Request

    body = body_of(source.read_text(encoding="utf-8"))
    entries = parse_lock(body).packages
    names = [p.name for p in entries if not p.marker][:60]
    project = root / f"project-{source.parent.parent.name}{'-distinct' if distinct else ''}"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "_engines.toml").write_text("")
    for i in range(n):
        wanted = [f'"{names[(i + k * 5) % len(names)]}>=0"' for k in range(12)]
        (project / "specs" / f"model-{i:04d}.toml").write_text(
            f'[model]\nname = "model-{i:04d}"\n\n[env]\npython = ["3.11"]\n'
            f"packages = [{', '.join(sorted(set(wanted)))}]\n"
        )
    paths = Paths(specs=project / "specs", locks=project / "locks", home=root / "home")
    for i in range(n):
        model = f"model-{i:04d}"
        plan = make_plan(paths, Request(model=model, python="3.11"), inspect_host=False)
        lock = project / "locks" / model / "default" / "py3.11.txt"
        lock.parent.mkdir(parents=True)
        # uv's notes name the requirements file ("# via -r NAME.in"), as a
        # lock made for this model would: other bytes, the same entries.
        own = body.replace("# via -r ", f"# via -r {model}-", 1) if distinct else body
        lock.write_text(render_lock(plan, own), encoding="utf-8")
    return project, len(entries)


def check(project: Path) -> tuple[float, float]:
    """(wall time, CPU time of the process): on a shared machine the wall time
    also counts waiting for a core."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "compiler", "lock", "--check"],
        cwd=project,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"lock --check failed:\n{proc.stdout}{proc.stderr}")
    return elapsed, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)


def in_process(project: Path, runs: int) -> tuple[float, float, float]:
    """CPU time over every lock in one process, plans made beforehand: header
    and checksum only; each lock examined alone (nothing shared); every lock
    through one Examiner, as lock --check does (a shared body checked once)."""
    from compiler.lockfile import body_of, parse_header, sha256_text
    from compiler.paths import Paths
    from compiler.plan import make_plan
    from compiler.request import Request
    from compiler.verify import Examiner, examine

    paths = Paths(specs=project / "specs", locks=project / "locks", home=project / "h")
    plans = []
    for spec in sorted((project / "specs").glob("model-*.toml")):
        plan = make_plan(paths, Request(model=spec.stem, python="3.11"), inspect_host=False)
        plans.append((project / "locks" / spec.stem / "default" / "py3.11.txt", plan))

    def header_only() -> None:
        for path, plan in plans:
            text = path.read_text(encoding="utf-8")
            header = parse_header(text)
            assert header is not None and header.fingerprint == plan.fingerprint()
            assert header.body_sha256 == sha256_text(body_of(text))

    def alone() -> None:
        for path, plan in plans:
            assert examine(path, plan).ok

    def shared() -> None:
        examiner = Examiner()
        for path, plan in plans:
            assert examiner.examine(path, plan).ok

    def cpu(fn: Callable[[], None]) -> float:
        samples = []
        for _ in range(runs):
            start = time.process_time()
            fn()
            samples.append(time.process_time() - start)
        return statistics.median(samples)

    return cpu(header_only), cpu(alone), cpu(shared)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 specs, 3 runs")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    opts = parser.parse_args()
    n, runs = (300, 3) if opts.quick else (1000, 5)
    tmp = Path(tempfile.mkdtemp(prefix="modelenv-bench-verify-"))
    os.environ.update(PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", MODELENV_HOME=str(tmp / "h"))
    load = os.getloadavg()
    rows = []
    try:
        for label, source in SOURCES.items():
            for distinct in (False, True):
                project, entries = make_project(tmp, n, source, distinct)
                samples = [check(project) for _ in range(runs)]
                wall = statistics.median(s[0] for s in samples)
                cpu = statistics.median(s[1] for s in samples)
                bodies = "every body different" if distinct else "one body shared"
                rows.append(
                    f"| lock --check, {n} specs, each lock {entries} entries ({label}, {bodies};"
                    f" body of `{source.relative_to(REPO)}`) | {wall * 1000:.0f} ms"
                    f" | {cpu * 1000:.0f} ms |\n"
                )
                if not distinct:
                    header, alone, shared = in_process(project, runs)
                    rows.append(
                        f"| in one process: checking {n} {label} locks, header and checksum"
                        f" only / each lock examined alone / as lock --check does | - |"
                        f" {header * 1000:.0f} ms / {alone * 1000:.0f} ms /"
                        f" {shared * 1000:.0f} ms |\n"
                    )
                shutil.rmtree(project)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    from compiler.uv import uv_version

    section = (
        f"{HEADING}\n\n"
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python"
        f" {platform.python_version()}, uv {uv_version()}; load average"
        f" {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. Median of {runs} runs, each a new"
        " process (CPU time: user + system of that process, the wall time less waiting for a"
        " core on a shared machine); regenerate with `.venv/bin/python bench/verify.py`.\n"
        "Each lock holds the body of a bundled lock under its own header; each spec asks for"
        " 12 of its packages. `lock --check` verifies every body against its spec (pins,"
        " markers on 10 platform and Python combinations, hashes, duplicates); a body that"
        " several locks share (the same bytes) it reads, hashes and parses once, and checks"
        " each lock's spec against it. In the \"every body different\" rows uv's note naming"
        " the requirements file (`# via -r NAME.in`) names the model: no body is shared.\n\n"
        "| benchmark | wall time | CPU time |\n| --- | --- | --- |\n" + "".join(rows)
    )
    results.update(Path(opts.out), HEADING, section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
