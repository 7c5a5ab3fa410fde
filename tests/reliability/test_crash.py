"""Crash: SIGKILL ``create`` and ``lock`` at many moments, chosen by a fixed seed.

After every kill: ``list`` shows no broken environment at a final path (the old
environment, a complete new one, or none), the environment there works, and
the next ``create`` succeeds and cleans up; a lock is either byte-identical to
the old one or a complete new one, with no temporary file left beside it.

The moments are spread over the whole duration of a build, measured first:
the build is slowed down on purpose (a pause after each traced step, and a
wheel of many small files installed by copying, so that uv itself takes time).
Half the kills take uv's processes down with modelenv, half leave them
running on as orphans, as an OOM kill of modelenv alone would.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from compiler.store import read_record

from ..conftest import run_cli, write_spec
from ..wheels import make_wheel
from .support import (
    XY,
    assert_clean,
    assert_environment_works,
    assert_no_broken_final_environment,
    child_env,
    created_path,
    env_dir,
    env_root,
    idx,
    leftovers,
    lock_file,
    sigkill,
    spawn,
    tmp_siblings,
)

SEED = 20251125
# x 3 scenarios = 18 seeded moments spread over whole builds, plus one inside
# each named step (test_sigkill_create_inside_each_named_step): every step is
# hit on purpose, so more random repeats add time rather than moments.
MOMENTS_PER_SCENARIO = 6
LOCK_MOMENTS = 10  # seeded, besides the two anchored ones
STEP_DELAY = 0.2
BULK_FILES = 600

SPEC_A = f'[env]\npython = ["{XY}"]\npackages = ["beta", "bulk"]\n'
SPEC_B = f'[env]\npython = ["{XY}"]\npackages = ["beta", "bulk", "gamma"]\n'


def slow_build_env(trace: Path) -> dict[str, str]:
    return {
        "MODELENV_TEST_TRACE": str(trace),
        "MODELENV_TEST_STEP_DELAY": str(STEP_DELAY),
        # Copy rather than hard-link from uv's cache: the install phase of a
        # wheel with many files then spans real time.
        "UV_LINK_MODE": "copy",
    }


def steps_of(trace: Path) -> list[str]:
    return trace.read_text().splitlines() if trace.exists() else []


@pytest.fixture()
def crash_project(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    files = {f"bulk/data/f{i:04d}.py": f"x = {i}\n" * 20 for i in range(BULK_FILES)}
    make_wheel(wheelhouse, "bulk", "1.0.0", files=files)
    write_spec(project, "m", SPEC_A)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    return project


def stratified(rng: random.Random, duration: float, n: int) -> list[float]:
    """``n`` moments in [0, 1.05 * duration], one in each of ``n`` equal slices."""
    span = duration * 1.05
    return [span * (k + rng.random()) / n for k in range(n)]


class CreateScenario:
    """One way of building: a fresh environment, a forced rebuild, or a rebuild
    after a spec edit (a local resolution, then an install)."""

    def __init__(
        self, name: str, project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        self.name, self.project, self.wheelhouse, self.capfd = name, project, wheelhouse, capfd
        self.spec_b = False

    def create_in_process(self, *extra: str) -> tuple[int, str, str]:
        code, out, err = run_cli(self.capfd, "create", "m", *idx(self.wheelhouse), *extra)
        assert_clean(code, err, allowed=(0,))
        return code, out, err

    def prepare(self) -> dict[str, Any] | None:
        """Set the store up for the next kill; the record of the old environment."""
        if self.name == "fresh":
            shutil.rmtree(env_root(), ignore_errors=True)
            return None
        if self.name == "respec":
            # Every kill interrupts a rebuild for a spec that just changed.
            self.create_in_process()
            self.spec_b = not self.spec_b
            write_spec(self.project, "m", SPEC_B if self.spec_b else SPEC_A)
            return read_record(env_dir())
        self.create_in_process()
        return read_record(env_dir())

    def argv(self) -> list[str]:
        force = ["--force"] if self.name == "force" else []
        return ["create", "m", *idx(self.wheelhouse), *force]


def check_after_kill(
    scenario: CreateScenario, before: dict[str, Any] | None, steps: list[str], moment: str
) -> None:
    capfd = scenario.capfd
    assert_no_broken_final_environment(capfd)
    final = env_dir()
    if final.exists():
        record = read_record(final)
        assert record is not None, moment
        # The old environment untouched, or a complete new one: either way every
        # package of the lock it records imports at its locked version.
        assert_environment_works(final)
    else:
        # Only a fresh build, or a rebuild killed between its two renames,
        # leaves nothing at the final path.
        assert before is None or steps[-1:] in (["swap-out"], ["swap-in"]), (moment, steps)

    # The next create succeeds, builds what the spec asks, and cleans up.
    _code, out, err = scenario.create_in_process()
    assert created_path(out) == final, moment
    if leftovers():
        # An up-to-date environment is handed out beside what a killed build
        # left (leftovers never force a rebuild); gc removes them.
        assert "up to date" in err, (moment, err)
        code, _out, err = run_cli(capfd, "gc")
        assert code == 0, (moment, err)
    assert leftovers() == [], (moment, leftovers())
    record = read_record(final)
    assert record is not None
    names = {p.split("==")[0] for p in record["installed"] + record["reused"]}
    assert ("gamma" in names) == scenario.spec_b, (moment, names)
    assert_environment_works(final)
    entries = assert_no_broken_final_environment(capfd)
    assert [e["status"] for e in entries] == ["ok"], (moment, entries)


@pytest.mark.slow
@pytest.mark.parametrize("scenario_name", ["fresh", "force", "respec"])
def test_sigkill_create_at_seeded_moments_never_leaves_a_broken_environment(
    crash_project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    scenario_name: str,
) -> None:
    rng = random.Random(f"{SEED}-create-{scenario_name}")
    scenario = CreateScenario(scenario_name, crash_project, wheelhouse, capfd)

    # Measure one whole build under the same slowed-down conditions.
    scenario.prepare()
    trace = crash_project / "trace-measure.txt"
    started = time.monotonic()
    proc = spawn(crash_project, *scenario.argv(), extra_env=slow_build_env(trace))
    _out, err = proc.communicate(timeout=180)
    duration = time.monotonic() - started
    assert proc.returncode == 0, err
    assert "install" in steps_of(trace)

    landed: Counter[str] = Counter()
    for i, delay in enumerate(stratified(rng, duration, MOMENTS_PER_SCENARIO)):
        group = rng.random() < 0.5
        moment = f"{scenario_name} #{i}: kill {'group' if group else 'alone'} at {delay:.2f}s"
        before = scenario.prepare()
        trace = crash_project / f"trace-{i}.txt"
        proc = spawn(crash_project, *scenario.argv(), extra_env=slow_build_env(trace))
        time.sleep(delay)
        alive = sigkill(proc, group=group)
        steps = steps_of(trace)
        if alive:
            landed[steps[-1] if steps else "(start-up)"] += 1
        else:
            assert proc.returncode == 0, moment  # it finished first: a plain build
        check_after_kill(scenario, before, steps, f"{moment}, after {steps}")

    # The moments did land across the build, not all before or after it. (At
    # least two steps: on a machine whose load changes during the test, the
    # builds after the measured one can take twice as long, and seeded moments
    # then fall in its two longest steps; test_sigkill_create_inside_each_named_step
    # kills in every step.)
    assert sum(landed.values()) >= MOMENTS_PER_SCENARIO // 2, landed
    assert len(landed) >= 2, landed
    code, _out, err = run_cli(capfd, "doctor")
    assert code == 0, err


REBUILD_STEPS = ["venv", "install", "check", "lock-copy", "record", "swap-out", "swap-in"]


@pytest.mark.slow
def test_sigkill_create_inside_each_named_step(
    crash_project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """At each traced step of a rebuild, a seeded moment within the step (not
    only at its start): for 'install', while uv is copying files."""
    rng = random.Random(f"{SEED}-steps")
    scenario = CreateScenario("force", crash_project, wheelhouse, capfd)
    landed = 0
    for step in REBUILD_STEPS:
        before = scenario.prepare()
        trace = crash_project / f"trace-{step}.txt"
        extra = slow_build_env(trace)
        if step != "install":
            # Held after the trace line until killed: the moment below lands
            # inside the step however loaded the machine is.
            extra["MODELENV_TEST_PAUSE_AT"] = step
        proc = spawn(crash_project, *scenario.argv(), extra_env=extra)
        deadline = time.monotonic() + 60
        while step not in steps_of(trace):
            assert proc.poll() is None, (step, proc.communicate())
            assert time.monotonic() < deadline, f"step {step} never reached"
            time.sleep(0.005)
        # Within the pause after the trace line, or (install) into uv's work.
        time.sleep(rng.uniform(0, STEP_DELAY * (1.5 if step == "install" else 0.9)))
        landed += sigkill(proc, group=rng.random() < 0.5)
        check_after_kill(scenario, before, steps_of(trace), f"in step {step}")
    # Every step but install holds the build until the kill; a loaded machine
    # may still let uv finish installing before the kill lands.
    assert landed >= len(REBUILD_STEPS) - 1, landed


# ---------------------------------------------------------------- lock


ENGINES = '[e1]\npackages = ["alpha>=1.0"]\n\n[e2]\npackages = ["alpha"]\n'


def lock_spec(variant: int) -> str:
    extra = ["gamma"] if variant % 2 else []
    packages = ", ".join(f'"{p}"' for p in ["beta", *extra])
    return (
        f'[env]\npython = ["{XY}"]\npackages = [{packages}]\n\n'
        "[engines.e1]\npackages = []\n\n[engines.e2]\npackages = []\n"
    )


LOCK_TARGETS = ["default", "e1", "e2"]


@pytest.fixture()
def lock_project(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    (project / "specs" / "_engines.toml").write_text(ENGINES)
    write_spec(project, "m", lock_spec(0))
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    return project


def wait_for_a_new_lock(
    project: Path, old: dict[str, bytes], proc: subprocess.Popen[str], timeout: float = 180
) -> None:
    """Return as soon as one of the locks differs from ``old`` (bounded)."""
    deadline = time.monotonic() + timeout

    def changed() -> bool:
        return any(lock_file(project, "m", t).read_bytes() != old[t] for t in LOCK_TARGETS)

    while not changed():
        if proc.poll() is not None:  # it may have ended between the two looks
            assert changed(), "the lock ended without writing a new lock"
            return
        assert time.monotonic() < deadline, f"no new lock within {timeout:.0f} s"
        time.sleep(0.005)


@pytest.mark.slow
def test_sigkill_lock_at_seeded_moments_keeps_the_old_lock_or_a_complete_new_one(
    lock_project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(f"{SEED}-lock")
    locks = lock_project / "locks"
    argv = ["lock", *idx(wheelhouse), "--jobs", "3"]

    # Measure a whole recompile of the three locks after a spec edit.
    write_spec(lock_project, "m", lock_spec(1))
    started = time.monotonic()
    proc = spawn(lock_project, *argv)
    _out, err = proc.communicate(timeout=180)
    duration = time.monotonic() - started
    assert proc.returncode == 0, err

    outcomes: Counter[str] = Counter()
    # Two anchored moments make the outcome count independent of the machine's
    # load: at once (nothing written yet) and as soon as the first new lock is
    # in place (the others still compiling); then seeded moments in between.
    moments: list[float | None] = [0.0, None, *stratified(rng, duration, LOCK_MOMENTS)]
    for i, delay in enumerate(moments):
        # Each kill interrupts a recompile: the spec changed since the last lock.
        write_spec(lock_project, "m", lock_spec(i))
        old = {t: lock_file(lock_project, "m", t).read_bytes() for t in LOCK_TARGETS}
        proc = spawn(lock_project, *argv)
        if delay is None:
            wait_for_a_new_lock(lock_project, old, proc)
        else:
            time.sleep(delay)
        sigkill(proc, group=rng.random() < 0.5)
        moment = f"lock #{i} killed " + (
            "at its first new lock" if delay is None else f"at {delay:.2f}s"
        )
        for target in LOCK_TARGETS:
            now = lock_file(lock_project, "m", target).read_bytes()
            if now == old[target]:
                outcomes["old"] += 1
                continue
            outcomes["new"] += 1
            # A new lock is whole. The only other problem --check may name is
            # the temporary file of a lock killed between its write and its
            # rename (that lock is still the old one): "left over".
            code, out, err = run_cli(capfd, "lock", "--check", "m", "--engine", target, "--json")
            problems = json.loads(out)["problems"]
            assert all(p["status"] == "left over" for p in problems), (moment, target, out, err)
            assert code == (1 if problems else 0), (moment, target, out, err)
        leftovers = tmp_siblings(locks)
        assert len(leftovers) <= len(LOCK_TARGETS), (moment, leftovers)  # one per lock at most
        outcomes["left over"] += len(leftovers)
        # The next lock completes what was interrupted and removes what was left.
        code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
        assert code == 0, (moment, err)
        assert tmp_siblings(locks) == [], (moment, tmp_siblings(locks))
        code, out, err = run_cli(capfd, "lock", "--check")
        assert code == 0, (moment, out, err)
    # Some kills kept the old locks, some landed after new ones were written.
    assert outcomes["old"] and outcomes["new"], outcomes


_KILL_AT_RENAME = """
import os, pathlib, signal, sys
real = os.replace
def replace(src, dst, *args, **kw):
    if os.fspath(dst).endswith(".txt") and "locks" in pathlib.Path(dst).parts:
        os.kill(os.getpid(), signal.SIGKILL)  # the temporary file is written, not moved
    return real(src, dst, *args, **kw)
os.replace = replace
from compiler.cli import main
sys.exit(main(sys.argv[1:]))
"""


def kill_lock_at_its_rename(project: Path, wheelhouse: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AT_RENAME, "lock", *idx(wheelhouse), "--jobs", "1"],
        cwd=project,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr


def test_a_lock_killed_at_its_rename_keeps_the_old_lock(
    lock_project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The worst moment for a lock: the new text is written, not yet renamed."""
    old = {t: lock_file(lock_project, "m", t).read_bytes() for t in LOCK_TARGETS}
    write_spec(lock_project, "m", lock_spec(1))
    kill_lock_at_its_rename(lock_project, wheelhouse)
    for target in LOCK_TARGETS:
        assert lock_file(lock_project, "m", target).read_bytes() == old[target]
    code, out, _err = run_cli(capfd, "lock", "--check")
    assert code == 1 and "stale" in out  # honest: the spec changed, the lock did not
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    code, _out, err = run_cli(capfd, "lock", "--check")
    assert code == 0, err


def test_the_next_lock_clears_the_temporary_file_of_a_killed_one(
    lock_project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    locks = lock_project / "locks"
    write_spec(lock_project, "m", lock_spec(1))
    kill_lock_at_its_rename(lock_project, wheelhouse)
    assert tmp_siblings(locks)  # what the killed process left
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    assert tmp_siblings(locks) == []
