"""Benchmarks over a real registry: Xinference's 355 model declarations, imported.

    .venv/bin/python bench/corpus.py [--runs N] [--corpus FILE]

Imports the corpus with `modelenv import xinference` into a temporary folder,
then times `modelenv validate` and `modelenv lock --check` over every imported
spec (medians of --runs runs, each a fresh process, as a user or CI runs them).
There are no locks, so `lock --check` reports every lock missing and exits 1:
that is expected, it measures the check. No network. Prints a markdown table
and writes it as the "## Corpus" section of bench/RESULTS.md, leaving the rest
of that file as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import results  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "xinference-virtualenvs.json"
MODELENV = [sys.executable, "-m", "compiler"]
SECTION = "## Corpus"


def modelenv(argv: Sequence[str], cwd: Path, ok: Sequence[int] = (0,)) -> str:
    """Run modelenv; its stderr, or exit with it when the status is not in ``ok``."""
    proc = subprocess.run([*MODELENV, *argv], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode not in ok:
        raise SystemExit(
            f"benchmark step failed ({proc.returncode}): modelenv {' '.join(argv)}\n{proc.stderr}"
        )
    return proc.stderr


def timed(argv: Sequence[str], cwd: Path, runs: int, ok: Sequence[int] = (0,)) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        modelenv(argv, cwd, ok)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median)")
    parser.add_argument("--corpus", default=str(CORPUS), help="Xinference registry JSON")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    opts = parser.parse_args()
    corpus = Path(opts.corpus).resolve()
    if not corpus.is_file():
        raise SystemExit(f"no corpus at {corpus}")
    records = len(json.loads(corpus.read_text(encoding="utf-8"))["models"])

    tmp = Path(tempfile.mkdtemp(prefix="modelenv-bench-corpus-"))
    for var in [v for v in os.environ if v.startswith(("PIP_", "UV_", "MODELENV_"))]:
        del os.environ[var]
    os.environ.update(
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        MODELENV_HOME=str(tmp / "home"),
        UV_PYTHON_DOWNLOADS="never",
        UV_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    try:
        specs = tmp / "specs"
        start = time.perf_counter()
        summary = modelenv(["import", "xinference", str(corpus), "--out", str(specs)], tmp)
        t_import = time.perf_counter() - start
        imported = next((ln for ln in summary.splitlines() if "specs written" in ln), "?")
        n_specs = len(list(specs.glob("[!_]*.toml")))
        where = ["--specs", str(specs), "--locks", str(tmp / "locks")]

        t_validate = timed(["validate", *where], tmp, opts.runs)
        t_check = timed(["lock", "--check", *where], tmp, opts.runs, ok=(1,))
        check_out = modelenv(["lock", "--check", *where], tmp, ok=(1,))
        targets = re.search(r"(\d+) of (\d+) locks", check_out)
        n_locks = targets.group(2) if targets else "?"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        SECTION,
        "",
        f"Xinference's registry ({corpus.name}: {records} model declarations), imported with"
        f" `modelenv import xinference`: {imported.strip()}.",
        f"Medians of {opts.runs} runs, each a new process; regenerate with"
        " `.venv/bin/python bench/corpus.py`.",
        "",
        "| benchmark | time |",
        "| --- | --- |",
        f"| import xinference (one run) | {fmt(t_import)} |",
        f"| validate, {n_specs} specs + _engines.toml | {fmt(t_validate)} |",
        f"| lock --check, {n_specs} specs ({n_locks} locks, all missing) | {fmt(t_check)} |",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    out = Path(opts.out)
    results.update(out, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
