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


PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
STRIDE = 33


def _reason(block: str) -> str:
    """uv's explanation in one line: its 'Because ...' sentence, or its first error."""
    lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
    for marker in ("Because", "cause:", "error:"):
        for ln in lines:
            if marker in ln:
                text = ln.split("cause:", 1)[-1].strip() if marker == "cause:" else ln
                return text[:300]
    return (lines[0] if lines else "no output")[:300]


def isolate(tmp: Path) -> None:
    """This process's environment without the machine's pip/uv/modelenv settings:
    a cold uv cache and a home in ``tmp``, offline unless a sample lock lifts it."""
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


def load_note() -> str:
    """The machine's load when the run started: times on a busy shared machine
    are not comparable with a quiet run's."""
    one, _, _ = os.getloadavg()
    return f"Load average at the start: {one:.1f} on {os.cpu_count()} CPUs."


def first_sample(specs: Path) -> list[str]:
    """The fixed sample of ten: sorted model names, a stride of STRIDE."""
    names = sorted(p.stem for p in specs.glob("[!_]*.toml"))
    return [names[i * STRIDE % len(names)] for i in range(10)]


def sample_lock(specs: Path, tmp: Path, timeout: float) -> list[tuple[str, str, bool, str]]:
    """Lock ten imported models (a fixed sample) against PyPI: one row per variant."""
    return lock_models(specs, tmp, first_sample(specs), timeout)


def lock_models(
    specs: Path, tmp: Path, models: Sequence[str], timeout: float, python: str | None = None
) -> list[tuple[str, str, bool, str]]:
    """Lock ``models`` against PyPI: (model, variant, locked, why) per variant;
    ``why`` is modelenv's whole message for a failure."""
    env = {k: v for k, v in os.environ.items() if k != "UV_OFFLINE"}
    rows: list[tuple[str, str, bool, str]] = []
    for model in models:
        argv = [
            sys.executable,
            "-m",
            "compiler",
            "lock",
            model,
            "--jobs",
            "2",
            "--specs",
            str(specs),
            "--locks",
            str(tmp / "sample-locks"),
            "--index-url",
            "https://pypi.org/simple",
            *(["--python", python] if python else []),
        ]
        try:
            proc = subprocess.run(
                argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            rows.append((model, "all", False, f"timed out after {timeout:.0f} s"))
            continue
        for m in re.finditer(r"^locked\s+\S+ \[([^\]]+)\]", proc.stderr, re.MULTILINE):
            rows.append((model, m.group(1), True, ""))
        failures = re.split(r"^modelenv: error: ", proc.stderr, flags=re.MULTILINE)[1:]
        for block in failures:
            head, _, rest = block.partition("\n")
            variant = re.search(r"\[([^\]]+)\]", head)
            rows.append((model, variant.group(1) if variant else "?", False, rest or head))
        if proc.returncode != 0 and not failures:  # e.g. "modelenv: internal error"
            rows.append((model, "all", False, proc.stderr.strip() or f"exit {proc.returncode}"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median)")
    parser.add_argument("--corpus", default=str(CORPUS), help="Xinference registry JSON")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    parser.add_argument(
        "--network",
        action="store_true",
        help="also lock a fixed sample of ten imported models against PyPI",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds per model for --network"
    )
    opts = parser.parse_args()
    load = load_note()
    corpus = Path(opts.corpus).resolve()
    if not corpus.is_file():
        raise SystemExit(f"no corpus at {corpus}")
    records = len(json.loads(corpus.read_text(encoding="utf-8"))["models"])

    tmp = Path(tempfile.mkdtemp(prefix="modelenv-bench-corpus-"))
    isolate(tmp)
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
        start = time.perf_counter()
        sample = sample_lock(specs, tmp, opts.timeout) if opts.network else []
        t_sample = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        SECTION,
        "",
        f"Xinference's registry ({corpus.name}: {records} model declarations), imported with"
        f" `modelenv import xinference`: {imported.strip()}.",
        f"Medians of {opts.runs} runs, each a new process; regenerate with"
        " `.venv/bin/python bench/corpus.py`. " + load,
        "",
        "| benchmark | time |",
        "| --- | --- |",
        f"| import xinference (one run) | {fmt(t_import)} |",
        f"| validate, {n_specs} specs + _engines.toml | {fmt(t_validate)} |",
        f"| lock --check, {n_specs} specs ({n_locks} locks, all missing) | {fmt(t_check)} |",
        "",
    ]
    if sample:
        resolved = sum(1 for _model, _target, ok, _why in sample if ok)
        lines += [
            f"A real lock of a fixed sample of ten imported models (sorted by name, a stride"
            f" of {STRIDE}), Python {PY}, against PyPI, cold uv cache, in {fmt(t_sample)}:"
            f" {resolved} of {len(sample)} variants resolved.",
            "",
            "| model | variant | result |",
            "| --- | --- | --- |",
            *[
                f"| {m} | {t} | {'locked' if ok else 'failed: ' + _reason(why).replace('|', '/')} |"
                for m, t, ok, why in sample
            ],
            "",
        ]
    section = "\n".join(lines)
    print(section)
    out = Path(opts.out)
    results.update(out, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
