"""Race: 8 processes at once mixing create, run, remove and gc on the same few
environments, each a fixed number of operations in a seeded random order.

No process ever runs in a half-built (or vanished) environment, no command
ends in a traceback or an internal error, a refusal is a clean exit 1 with a
message, and the store ends consistent: ``doctor`` is clean and ``list`` shows
every environment ok.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from ..conftest import run_cli, write_spec
from ..wheels import make_wheel
from .support import (
    XY,
    XYZ,
    assert_environment_works,
    env_dir,
    env_root,
    idx,
    leftovers,
    list_entries,
    modelenv,
    spawn,
)

SEED = 20251125
WORKERS = 8
# Operations per process: the same seeded sequence on every run, however fast
# the machine (a time budget did ~300 operations unloaded and ~100 beside nine
# busy processes, where its 8 processes also took the CPU of the rest of the suite).
OPERATIONS = 16
STEP_DELAY = "0.05"  # widens every build step a little: more overlaps

MODELS = {
    "m1": (["beta"], {"alpha": "1.0.0", "beta": "2.0.0"}),
    "m2": (["gamma", "alpha"], {"alpha": "1.0.0", "gamma": "0.5.0"}),
    "m3": (["delta"], {"delta": "3.1.0", "gamma": "0.5.0"}),
}

# Run inside the environment by `modelenv run`: is this the finished environment,
# and does it import the locked versions, also after a pause (while it is in
# use, remove and gc must leave it alone)? The pause is seconds, or the absolute
# path of a file to wait for.
CHECK = """\
import json, os, sys, time
expected, pause = json.loads(sys.argv[1]), sys.argv[2]
prefix = sys.prefix
record = os.path.join(prefix, "modelenv-record.json")
problems = []
if os.environ.get("VIRTUAL_ENV") != prefix:
    problems.append("not the environment's interpreter: %s" % prefix)
if os.path.basename(prefix).startswith(".") or not os.path.isfile(record):
    problems.append("half-built environment (no record): %s" % prefix)
if os.path.isabs(pause):
    # Stay in use until the test creates this file (bounded): no fixed pause
    # is long enough on a loaded machine.
    deadline = time.monotonic() + 120
    while not os.path.exists(pause) and time.monotonic() < deadline:
        time.sleep(0.02)
else:
    time.sleep(float(pause))
for name, version in sorted(expected.items()):
    try:
        found = __import__(name).__version__
    except Exception as exc:
        problems.append("%s: %r" % (name, exc))
        continue
    if found != version:
        problems.append("%s: %s, locked %s" % (name, found, version))
if not os.path.isfile(record):
    problems.append("the environment vanished while in use: %s" % prefix)
if problems:
    print("RUN-BROKEN", problems)
    sys.exit(42)
print("RUN-OK", prefix)
"""


@dataclass
class Outcome:
    worker: int
    op: str
    model: str
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (
            f"worker {self.worker}: {self.op} {self.model} -> exit {self.code}\n"
            f"--- stdout\n{self.out}--- stderr\n{self.err}"
        )


def violation(o: Outcome) -> str | None:
    """Why this outcome breaks a promise, or None when it is fine."""
    if "Traceback" in o.err or "internal error" in o.err or o.code == 3:
        return "traceback or internal error"
    if o.op == "run":
        if o.code == 0 and "RUN-OK" in o.out:
            return None
        if o.code == 1 and "modelenv: error:" in o.err and "RUN-" not in o.out:
            return None  # a clean refusal, in modelenv's words
        return "run did not end with correct imports or a clean error"
    if o.op == "create":
        if o.code == 0 or (o.code == 1 and "is using it" in o.err):
            return None  # built, up to date, or a rebuild refused under a running model
        return "create failed"
    if o.op == "remove":
        if o.code == 0:
            return None
        refused = "in use by process" in o.err or "being built" in o.err
        if o.code == 1 and (refused or "no environment of" in o.out):
            return None
        return "remove failed without a reason"
    return None if o.code == 0 else "gc failed"


@pytest.fixture()
def race_project(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    make_wheel(wheelhouse, "delta", "3.1.0", requires=["gamma>=0.5"])
    for name, (packages, _versions) in MODELS.items():
        write_spec(project, name, f'[env]\npython = ["{XY}"]\npackages = {json.dumps(packages)}\n')
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    (project / "check_env.py").write_text(CHECK)
    return project


def worker(project: Path, wheelhouse: Path, n: int) -> list[Outcome]:
    rng = random.Random(f"{SEED}-race-{n}")
    trace = {
        "MODELENV_TEST_TRACE": str(project / f"trace-{n}.txt"),
        "MODELENV_TEST_STEP_DELAY": STEP_DELAY,
    }
    outcomes = []
    for _ in range(OPERATIONS):
        op = rng.choices(["create", "run", "remove", "gc"], weights=[3, 5, 2, 1])[0]
        model = rng.choice(sorted(MODELS))
        versions = MODELS[model][1]
        if op == "create":
            argv = ["create", model, *idx(wheelhouse)]
        elif op == "run":
            pause = f"{rng.uniform(0, 0.3):.2f}"
            argv = ["run", *idx(wheelhouse), model, "--"]
            argv += ["python", "check_env.py", json.dumps(versions), pause]
        elif op == "remove":
            argv = ["remove", model]
        else:
            argv = ["gc"]
        proc = modelenv(project, *argv, extra_env=trace)
        outcomes.append(Outcome(n, op, model, proc.returncode, proc.stdout, proc.stderr))
    return outcomes


@pytest.mark.slow
def test_eight_processes_mixing_create_run_remove_and_gc(
    race_project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(worker, race_project, wheelhouse, n) for n in range(WORKERS)]
        outcomes = [o for f in futures for o in f.result()]

    bad = [(why, o) for o in outcomes if (why := violation(o)) is not None]
    assert not bad, "\n\n".join(f"{why}:\n{o}" for why, o in bad[:5])
    done = Counter((o.op, o.code) for o in outcomes)
    # The mix did happen: every operation ran, and runs did succeed.
    assert {op for op, _code in done} == {"create", "run", "remove", "gc"}, done
    assert done[("run", 0)] >= 5, done

    # The store ends consistent.
    for model in MODELS:
        assert leftovers(model) == [], leftovers(model)
    code, out, err = run_cli(capfd, "doctor")
    assert code == 0, out + err
    for e in list_entries(capfd):
        assert e["status"] == "ok", e
        assert not Path(e["path"]).name.startswith("."), e
    # And usable: every model runs with its locked versions.
    for model, (_packages, versions) in MODELS.items():
        proc = modelenv(
            race_project,
            "run",
            *idx(wheelhouse),
            model,
            "--",
            "python",
            "check_env.py",
            json.dumps(versions),
            "0",
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert_environment_works(env_dir(model), versions)


# ---------------------------------------------------------------- the race, slowed down


def waits_for_a_lock(pid: int) -> bool:
    """Is the process polling a file lock (asleep between attempts, as filelock
    does), three samples running? Where the kernel does not say, after a while."""
    for _ in range(3):
        try:
            wchan = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            return False
        if wchan in ("", "0"):  # not shown here: give it time to get there
            time.sleep(3)
            return True
        if "nanosleep" not in wchan:
            return False
        time.sleep(0.02)
    return True


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_remove_never_deletes_an_environment_a_run_started_using_while_it_waited(
    race_project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The stress test's window, made deterministic: remove has read the leases
    (none) and waits for the environment's lock, held here as a build would;
    meanwhile a run starts in the environment and takes its lease."""
    code, _out, err = run_cli(capfd, "create", "m1", *idx(wheelhouse))
    assert code == 0, err
    versions = MODELS["m1"][1]
    lease_dir = env_root("m1") / f".{XYZ}.leases"
    lock_path = env_root("m1") / f".{XYZ}.lock"
    gate = race_project / "run-may-end"
    with FileLock(str(lock_path)):
        remover = spawn(race_project, "remove", "m1")
        # It has scanned the store (no lease yet) once it polls for the lock.
        wait_until(lambda: waits_for_a_lock(remover.pid), "remove to wait for the lock")
        assert remover.poll() is None, remover.communicate()
        runner = spawn(
            race_project,
            "run",
            *idx(wheelhouse),
            "m1",
            "--",
            "python",
            "check_env.py",
            json.dumps(versions),
            str(gate),
        )
        wait_until(
            lambda: lease_dir.is_dir() and any(p.name.isdigit() for p in lease_dir.iterdir()),
            "the run's lease",
        )
    try:
        r_out, r_err = remover.communicate(timeout=60)
    finally:
        gate.touch()  # the run stays in use until remove has decided
    out, err = runner.communicate(timeout=60)
    assert "Traceback" not in r_err and "internal error" not in r_err, r_err
    # Remove must refuse (the environment is in use), and the run must succeed.
    assert runner.returncode == 0 and "RUN-OK" in out, out + err
    assert remover.returncode == 1 and "in use by process" in r_err, r_out + r_err


def test_remove_refuses_an_environment_in_use(
    race_project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The lease protocol when nothing races: a run in progress keeps remove and
    gc away (clean exit 1 naming the process), and --force is needed."""
    code, _out, err = run_cli(capfd, "create", "m1", *idx(wheelhouse))
    assert code == 0, err
    versions = MODELS["m1"][1]
    gate = race_project / "run-may-end"
    runner = spawn(
        race_project,
        "run",
        *idx(wheelhouse),
        "m1",
        "--",
        "python",
        "check_env.py",
        json.dumps(versions),
        str(gate),
    )
    lease_dir = env_root("m1") / f".{XYZ}.leases"
    wait_until(
        lambda: lease_dir.is_dir() and any(p.name.isdigit() for p in lease_dir.iterdir()),
        "the run's lease",
    )
    proc = modelenv(race_project, "remove", "m1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "in use by process" in proc.stderr and "Traceback" not in proc.stderr
    proc = modelenv(race_project, "gc", "--max-size", "1")
    assert proc.returncode == 0, proc.stderr
    assert env_dir("m1").exists()  # over budget, but in use: kept
    gate.touch()
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 0 and "RUN-OK" in out, out + err
    # Once the run is over, remove goes ahead.
    proc = modelenv(race_project, "remove", "m1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not env_dir("m1").exists()
    assert os.listdir(env_root("m1")) in ([], [f".{XYZ}.lock"])


def test_run_never_runs_in_an_environment_removed_before_its_lease(
    race_project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other side of the window: a remove that completes between the moment
    run picks the environment and the moment it takes its lease (made
    deterministic by running the remove from a wrapper around leases.take)."""
    import compiler.leases

    code, _out, err = run_cli(capfd, "create", "m1", *idx(wheelhouse))
    assert code == 0, err
    real_take = compiler.leases.take
    removed: list[object] = []

    def remove_then_take(env_path: Path, pid: int | None = None) -> Path:
        if not removed:
            proc = modelenv(race_project, "remove", "m1")
            removed.append(proc)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return real_take(env_path, pid)

    monkeypatch.setattr(compiler.leases, "take", remove_then_take)
    versions = json.dumps(MODELS["m1"][1])
    code, out, err = run_cli(
        capfd, "run", *idx(wheelhouse), "m1", "--", "python", "check_env.py", versions, "0"
    )
    assert removed, "the window was not reached"
    assert "Traceback" not in err and "internal error" not in err, err
    # Either the run noticed and used a (re)built environment, or it refused cleanly.
    ok = code == 0 and "RUN-OK" in out
    refused = code == 1 and "modelenv: error:" in err and "RUN-" not in out
    assert ok or refused, (code, out, err)
