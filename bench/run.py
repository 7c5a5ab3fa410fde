"""Benchmarks: modelenv side by side with the plain uv commands a user would run.

    make bench            # or: .venv/bin/python bench/run.py [--quick]

Everything runs against a local wheelhouse of tiny wheels (no network), in a
temporary folder, with pip/uv configuration isolated. Writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
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

from tests.wheels import make_wheel  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
import results  # noqa: E402
from launch import Subject, floor_row, launch_rows  # noqa: E402
from timing import machine  # noqa: E402

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
MODELENV = [sys.executable, "-m", "compiler"]


def _uv() -> str:
    from compiler.uv import uv_binary

    return uv_binary()


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def sh(*argv: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{proc.stderr}")


def make_project(root: Path, n_specs: int, wheels: Path) -> Path:
    project = root / f"project-{n_specs}"
    specs = project / "specs"
    specs.mkdir(parents=True)
    shutil.copy(REPO / "specs" / "_engines.toml", specs / "_engines.toml")
    for i in range(n_specs):
        pkgs = [f'"pkg{i % 20}==1.0.0"', f'"pkg{(i + 7) % 20}>=1.0"', '"numpy"']
        (specs / f"model-{i:04d}.toml").write_text(
            f'[model]\nname = "model-{i:04d}"\n\n[env]\npython = ["{PY}"]\n'
            f"packages = [{', '.join(pkgs)}]\n"
        )
    return project


def ratio(ours: float, theirs: float) -> str:
    """Who is faster, and by how much."""
    if ours <= theirs:
        return f"modelenv {theirs / ours:.0f}x faster"
    return f"uv {ours / theirs:.1f}x faster"


def fmt(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer specs and runs")
    parser.add_argument(
        "--network", action="store_true", help="also lock the bundled specs against PyPI"
    )
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    parser.add_argument(
        "--launch-only", action="store_true", help="only the launch rows (for a quick look)"
    )
    opts = parser.parse_args()
    runs = 3 if opts.quick else 5
    launch_runs = 5 if opts.quick else 15
    sizes = [] if opts.launch_only else [10, 100, 300] if opts.quick else [10, 100, 300, 1000]

    tmp = Path(tempfile.mkdtemp(prefix="modelenv-bench-"))
    os.environ.update(
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        MODELENV_HOME=str(tmp / "home"),
        UV_PYTHON_DOWNLOADS="never",
    )
    for var in [
        v
        for v in os.environ
        if v.startswith(("PIP_INDEX", "PIP_EXTRA", "PIP_FIND", "UV_INDEX", "UV_EXTRA", "UV_FIND"))
    ]:
        del os.environ[var]
    wheels = tmp / "wheels"
    for i in range(20):
        make_wheel(wheels, f"pkg{i}", "1.0.0", requires=[f"dep{i % 5}>=1"])
    for i in range(5):
        make_wheel(wheels, f"dep{i}", "1.0.0")
    make_wheel(wheels, "numpy", "1.26.4")
    index = ["--no-index", "--find-links", str(wheels)]
    rows: list[tuple[str, str, str, str]] = []

    # --- scaling: validate, lock --check, no-op lock
    for n in sizes:
        project = make_project(tmp, n, wheels)
        sh(*MODELENV, "lock", "--jobs", "2", *index, cwd=project)
        t_validate = timed(lambda p=project: sh(*MODELENV, "validate", cwd=p), runs)
        t_check = timed(lambda p=project: sh(*MODELENV, "lock", "--check", cwd=p), runs)
        t_noop = timed(lambda p=project: sh(*MODELENV, "lock", *index, cwd=p), runs)
        rows.append((f"validate, {n} specs", fmt(t_validate), "", ""))
        rows.append((f"lock --check, {n} specs", fmt(t_check), "", ""))
        rows.append((f"no-op lock, {n} specs", fmt(t_noop), "", ""))
        if n == 300:
            # What a user would run instead: recompile every spec with uv.
            spec_in = tmp / "one.in"
            spec_in.write_text("pkg1==1.0.0\npkg8>=1.0\nnumpy\n")
            compile_one = [
                _uv(),
                "pip",
                "compile",
                str(spec_in),
                "--universal",
                "--python-version",
                PY,
                "--generate-hashes",
                "--quiet",
                "-o",
                str(tmp / "one.txt"),
                *index,
            ]
            t_all = timed(lambda c=compile_one, k=n: [sh(*c) for _ in range(k)], 1)
            rows.append(
                (
                    f"lock --check, {n} specs, vs uv pip compile of each",
                    fmt(t_check),
                    fmt(t_all),
                    ratio(t_check, t_all),
                )
            )
            rows.append(
                (
                    f"no-op lock, {n} specs, vs uv pip compile of each",
                    fmt(t_noop),
                    fmt(t_all),
                    ratio(t_noop, t_all),
                )
            )

    if opts.network:
        bundled = tmp / "bundled"
        shutil.copytree(REPO / "specs", bundled / "specs")
        start = time.perf_counter()
        # A lock that needs more than PyPI (a target's local wheelhouse) fails
        # here: counted, not fatal.
        done = subprocess.run(
            [*MODELENV, "lock", "--jobs", "2", "--index-url", "https://pypi.org/simple"],
            cwd=bundled,
            capture_output=True,
            text=True,
            check=False,
        )
        said = [line for line in (done.stdout + done.stderr).splitlines() if " locked, " in line]
        summary = said[-1].strip() if said else f"exit {done.returncode}"
        rows.append(
            (
                f"real lock of the bundled specs (PyPI only, cold uv cache: {summary})",
                fmt(time.perf_counter() - start),
                "",
                "",
            )
        )

    # --- launch path: up to date, cold, in-process; the interpreter's floor
    project = make_project(tmp, 1, wheels)
    sh(*MODELENV, "lock", *index, cwd=project)
    subjects = [
        Subject(
            "tiny wheels",
            "model-0000",
            project,
            project / "locks" / "model-0000" / "default" / f"py{PY}.txt",
            index,
            {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)},
        )
    ]
    if opts.network and (REPO / "locks" / "minilm-onnx" / "default" / f"py{PY}.txt").is_file():
        real = tmp / "minilm-project"
        shutil.copytree(REPO / "specs", real / "specs")
        shutil.copytree(REPO / "locks", real / "locks")
        subjects.append(
            Subject(
                "minilm-onnx (PyPI wheels)",
                "minilm-onnx",
                real,
                real / "locks" / "minilm-onnx" / "default" / f"py{PY}.txt",
                (),
            )
        )
    launch: list[tuple[str, str, str, str]] = [floor_row(launch_runs)]
    for subject in subjects:
        launch += launch_rows(subject, _uv(), tmp, launch_runs)

    import compiler.uv

    lines = [
        "## modelenv against plain uv",
        "",
        f"Machine: {machine(compiler.uv.uv_version())}.",
        f"Whole processes; {launch_runs} pairs per launch row, run A then B in turn;"
        " times are the median (min-max) of wall clock; the ratio is A/B, the median"
        " of the pairs' ratios, then the ratio of the median CPU times (user + system),"
        " which a busy machine disturbs less. The uv baseline runs on a separate"
        " environment that plain uv built from the same lock and base interpreter."
        " Regenerate with `make bench` (`--network` adds the minilm-onnx rows and the"
        " real lock).",
        "",
        "| launch | modelenv | plain uv | ratio |",
        "| --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c or '-'} | {d or '-'} |" for a, b, c, d in launch],
        "",
        f"Specs at scale: medians of {runs} runs, each a new process.",
        "",
        "| benchmark | modelenv | plain uv | ratio |",
        "| --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c or '-'} | {d or '-'} |" for a, b, c, d in rows],
        "",
    ]
    results.update(Path(opts.out), "## modelenv against plain uv", "\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
