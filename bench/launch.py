"""The launch path against plain uv: up-to-date create and run, cold create,
ensure_env() in-process, Python's own start-up.

The uv baseline never runs on the environment modelenv built: a separate
environment is made by plain uv (``uv venv`` + ``uv pip sync``) from the same
lock and the same base interpreter, and ``uv pip install -r LOCK`` runs on it.
A cold create is compared with ``uv venv`` + ``uv pip sync LOCK`` (what a user
types) and with the same ``--offline`` (uv's floor: its cache holds every file
and the index is never asked, as modelenv's install first tries).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from timing import Pair, Stats, alone, command, ms, paired, who_is_faster

Row = tuple[str, str, str, str]

_ENSURE = """\
import statistics, sys, time
import compiler
compiler.ensure_env(sys.argv[1])
samples = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    compiler.ensure_env(sys.argv[1])
    samples.append(time.perf_counter() - start)
print(statistics.median(samples), min(samples), max(samples))
"""


@dataclass(frozen=True)
class Subject:
    """A locked model in a project, and how to reach its packages."""

    label: str
    model: str
    project: Path
    lock: Path
    index: Sequence[str]
    # The same index settings as environment variables, for ensure_env().
    index_env: Mapping[str, str] = field(default_factory=dict)


def modelenv_argv() -> list[str]:
    """The installed command (what users run), else ``python -m compiler``."""
    script = Path(sys.executable).with_name("modelenv")
    return [str(script)] if script.exists() else [sys.executable, "-m", "compiler"]


def child_env() -> dict[str, str]:
    """Children write and use bytecode caches, as an installed modelenv does
    (some sandboxes set PYTHONDONTWRITEBYTECODE, which makes every start compile)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _ratio_cells(pair: Pair) -> tuple[str, str, str]:
    return (
        pair.a.spread(),
        pair.b.spread(),
        f"{pair.ratio:.2f} ({who_is_faster(pair.ratio)}); CPU {pair.cpu_ratio:.2f}",
    )


def launch_rows(subject: Subject, uv: str, tmp: Path, runs: int) -> list[Row]:
    env = child_env()
    me = modelenv_argv()
    cwd = subject.project
    model = subject.model

    def run_me(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*me, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )

    created = run_me("create", model, *subject.index)
    if created.returncode != 0:
        raise SystemExit(f"modelenv create {model} failed:\n{created.stderr}")
    env_path = Path(created.stdout.strip().splitlines()[-1])
    record = json.loads((env_path / "modelenv-record.json").read_text())
    base = record["base"]["executable"]

    plain = tmp / f"plain-{model}"
    plain_python = str(plain / "bin" / "python")
    venv_argv = [uv, "venv", "--quiet", "--python", base, str(plain)]
    sync_argv = [
        uv,
        "pip",
        "sync",
        "--quiet",
        "--python",
        plain_python,
        str(subject.lock),
        *list(subject.index),
    ]
    make_plain = [command(venv_argv, env=env), command(sync_argv, env=env)]

    def cold_uv() -> None:
        for step in make_plain:
            step()

    # uv's floor: the same, never asking the index (what modelenv does first).
    make_plain_offline = [make_plain[0], command([*sync_argv, "--offline"], env=env)]

    def cold_uv_offline() -> None:
        for step in make_plain_offline:
            step()

    def drop_plain() -> None:
        shutil.rmtree(plain, ignore_errors=True)

    drop_plain()
    cold_uv()
    uv_install = command(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            plain_python,
            "-r",
            str(subject.lock),
            *list(subject.index),
        ],
        env=env,
    )
    create = command([*me, "create", model, *subject.index], cwd=cwd, env=env)
    run_true = command([*me, "run", model, "--", "true"], cwd=cwd, env=env)
    rows: list[Row] = []
    label = subject.label

    pair = paired(create, uv_install, runs)
    rows.append(
        (f"{label}: no-op `modelenv create` vs `uv pip install -r LOCK`", *_ratio_cells(pair))
    )
    pair = paired(run_true, uv_install, runs)
    rows.append((f"{label}: no-op `modelenv run M -- true` vs the same", *_ratio_cells(pair)))
    pair = paired(run_true, command(["true"]), runs)
    added = pair.a.median - pair.b.median
    rows.append(
        (
            f"{label}: what `run M -- true` adds over `true`",
            pair.a.spread(),
            f"`true`: {pair.b.spread()}",
            f"+{ms(added)}",
        )
    )

    proc = subprocess.run(
        [sys.executable, "-c", _ENSURE, model, "2000"],
        cwd=cwd,
        env={**env, **subject.index_env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"ensure_env benchmark failed:\n{proc.stderr}")
    med, low, high = (float(x) for x in proc.stdout.split())
    rows.append(
        (
            f"{label}: repeated `ensure_env()` in-process (2000 calls)",
            f"{ms(med)} ({ms(low)}-{ms(high)})",
            "-",
            "-",
        )
    )

    def drop_env() -> None:
        done = run_me("remove", model)
        if done.returncode != 0:
            raise SystemExit(f"modelenv remove {model} failed:\n{done.stderr}")

    cold_runs = max(10, runs // 3)
    pair = paired(create, cold_uv, cold_runs, setup_a=drop_env, setup_b=drop_plain)
    rows.append(
        (
            f"{label}: cold create, warm uv cache, vs `uv venv` + `uv pip sync LOCK`"
            f" ({len(record['installed'])} installed, {len(record['reused'])} reused"
            " from the host)",
            *_ratio_cells(pair),
        )
    )
    pair = paired(create, cold_uv_offline, cold_runs, setup_a=drop_env, setup_b=drop_plain)
    rows.append(
        (
            f"{label}: the same, vs `uv venv` + `uv pip sync --offline LOCK` (uv's cache"
            " only: the index never asked)",
            *_ratio_cells(pair),
        )
    )
    # The same on a host modelenv has not probed before (its probe cache off):
    # what the first model built on a new machine pays.
    unseen = command(
        [*me, "create", model, *subject.index],
        cwd=cwd,
        env={**env, "MODELENV_NO_PROBE_CACHE": "1"},
    )
    pair = paired(unseen, cold_uv, cold_runs, setup_a=drop_env, setup_b=drop_plain)
    rows.append(
        (
            f"{label}: cold create on a base interpreter not probed before"
            " (MODELENV_NO_PROBE_CACHE=1), vs `uv venv` + `uv pip sync LOCK`",
            *_ratio_cells(pair),
        )
    )
    create()  # leave it built
    return rows


def floor_row(runs: int) -> Row:
    """Python's own start-up: what no Python command can go below."""
    stats: Stats = alone(command([sys.executable, "-c", "pass"], env=child_env()), runs)
    return ("`python -c pass` (the interpreter's floor)", stats.spread(), "-", "-")
