"""The launch path (`compiler.launch`): the command line it reads, the
up-to-date check without the spec, exec, and the imports it avoids."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

import compiler
from compiler import fresh, launch, leases
from compiler.cli import build_parser
from compiler.store import RECORD_NAME

from .conftest import REPO, run_cli, write_spec
from .test_materialise import XY, XYZ, created_path, idx

# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("words", "own", "cmd"),
    [
        (["m", "--", "python", "-V"], ["m"], ["python", "-V"]),
        (["m", "python", "-c", "print(1)"], ["m"], ["python", "-c", "print(1)"]),
        (
            ["--engine", "e", "m", "python", "-c", "x"],
            ["--engine", "e", "m"],
            ["python", "-c", "x"],
        ),
        (["m", "--engine", "e", "python"], ["m", "--engine", "e"], ["python"]),
        (["m", "--engine=e", "-q", "python"], ["m", "--engine=e", "-q"], ["python"]),
        (["m", "--eng", "e", "python"], ["m", "--eng", "e"], ["python"]),  # argparse abbreviation
        (["m", "-p", "alpha==1", "python"], ["m", "-p", "alpha==1"], ["python"]),
        (["m", "python", "--", "x"], ["m"], ["python", "--", "x"]),  # "--" after CMD is CMD's
        (["m", "--", "--weird"], ["m"], ["--weird"]),
        (["m"], ["m"], None),
        (["m", "--"], ["m"], []),
        (["--python", XY], ["--python", XY], None),
    ],
)
def test_split_run(words: list[str], own: list[str], cmd: list[str] | None) -> None:
    assert launch.split_run(words) == (own, cmd)


def _option_strings(command: str) -> tuple[set[str], set[str]]:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if a.dest == "command")
    values, flags = set(), set()
    for action in sub.choices[command]._actions:  # type: ignore[union-attr]
        for option in action.option_strings:
            (flags if action.nargs == 0 else values).add(option)
    return values, flags


@pytest.mark.parametrize("command", ["create", "run"])
def test_the_option_tables_match_the_parsers(command: str) -> None:
    """split_run must know which options take a value; a new option of create or
    run that is missing from launch's tables would send its value to CMD."""
    values, flags = _option_strings(command)
    assert values == set(launch.VALUE_OPTIONS)
    only_run = set() if command == "run" else set(launch.RUN_ONLY_FLAGS)
    assert flags == set(launch.FLAG_OPTIONS) - only_run


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["create"],
        ["create", "m", "n"],
        ["create", "m", "--force"],
        ["create", "m", "--share-venv"],
        ["create", "m", "-v"],
        ["create", "m", "--help"],
        ["create", "m", "--", "x"],
        ["create", "../m"],
        ["create", "m", "--engine", "a/b"],
        ["create", "m", "--python", "3"],
        ["create", "m", "--python", "3.7"],
        ["create", "m", "--eng", "e"],
        ["run", "m"],
        ["run", "m", "--"],
        ["--home"],
        ["--home", "h"],
        ["-V"],
    ],
)
def test_the_fast_path_leaves_everything_else_to_the_full_command_line(argv: list[str]) -> None:
    assert launch.parse_fast(argv) is None


def test_the_fast_path_reads_create_and_run() -> None:
    args = launch.parse_fast(
        ["--home", "/h", "create", "m", "--engine=vllm", "-p", "a==1", "--python", "3.12", "-q"]
    )
    assert args is not None
    assert (args.command, args.model, args.engine, args.python) == ("create", "m", "vllm", "3.12")
    assert (args.home, args.packages, args.quiet) == ("/h", ["a==1"], True)
    args = launch.parse_fast(["run", "m", "--engine", "default", "--no-index", "python", "-V"])
    assert args is not None
    assert (args.command, args.model, args.engine, args.cmd) == ("run", "m", None, ["python", "-V"])


@pytest.mark.parametrize(
    "argv",
    [
        ["create", "m"],
        ["--home", "/h", "-q", "create", "m"],
        ["--specs=/s", "create", "m", "--locks", "/l", "--engine", "default", "--quiet"],
        [
            "create",
            "m",
            "--engine=vllm",
            "--python",
            "3.12",
            "-p",
            "a==1",
            "--package=!b",
            "--overrides",
            "o.toml",
            "--base-python",
            "/usr/bin/python3",
            "--strict-system",
            "--target",
            "cpu",
        ],
        [
            "create",
            "m",
            "--index-url",
            "https://i/simple",
            "--extra-index-url",
            "https://x/simple",
            "--extra-index-url=https://y/simple",
            "--find-links",
            "/w",
            "--no-index",
            "--offline",
            "--wait",
            "2.5",
            "--no-skip-installed",
        ],
        ["create", "m", "--skip-installed", "--wait=0", "--no-skip-installed", "--skip-installed"],
        ["create", "--engine", "a", "--engine", "b", "m"],
    ],
)
def test_a_create_the_launch_path_reads_is_the_one_argparse_reads(argv: list[str]) -> None:
    """A create to build goes from the launch path straight to the command,
    without argparse: the command must get the very arguments the full
    command line would give it."""
    fast = launch.parse_fast(argv)
    assert fast is not None
    assert vars(fast.namespace()) == vars(build_parser("create").parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "m", "python", "-V"],
        ["-q", "run", "m", "--exec", "--", "python", "-c", "x"],
        ["run", "--share-venv", "m", "--engine", "e", "--no-index", "--find-links", "/w", "sh"],
        ["--home=/h", "run", "m", "-p", "a==1", "--wait", "3", "--no-skip-installed", "--", "x"],
    ],
)
def test_a_run_the_launch_path_reads_is_the_one_the_command_line_reads(argv: list[str]) -> None:
    """As for create: a run whose environment must be built goes to the
    command without argparse, with the arguments cli.main would give it."""
    fast = launch.parse_fast(argv)
    assert fast is not None
    at = argv.index("run") + 1
    own, cmd = launch.split_run(argv[at:])
    full = build_parser("run").parse_args([*argv[:at], *own])
    full.cmd = cmd
    assert vars(fast.namespace()) == vars(full)


def test_the_reused_parser_gives_each_call_lists_of_its_own() -> None:
    """build_parser is built once per process: a list one call's command
    changes (an append to a ``default=[]``) never reaches the next call."""
    assert build_parser("lock") is build_parser("lock")
    first = build_parser("lock").parse_args(["lock", "m"])
    first.engine.append("leaked")
    first.find_links.append("/leaked")
    second = build_parser("lock").parse_args(["lock", "m"])
    assert second.engine == [] and second.find_links == []
    given = build_parser("lock").parse_args(["lock", "m", "--engine", "a", "--engine", "b"])
    assert given.engine == ["a", "b"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--engine", "e", "create", "m"],  # not an option of the main parser
        ["create", "m", "-p=a"],  # argparse reads the value "=a"
        ["create", "m", "--wait", "soon"],  # not a number
        ["create", "m", "--index-url", "-q"],  # argparse: expected one argument
        ["create", "m", "--python"],
    ],
)
def test_a_create_argparse_refuses_is_left_to_it(argv: list[str]) -> None:
    assert launch.parse_fast(argv) is None


def test_a_create_that_builds_does_not_import_argparse_nor_lock_check_the_compiler(
    project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n')
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    proc = modelenv(project, "create", "m", *idx(wheelhouse), importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert "created m [default, py" in proc.stderr
    modules = imported_modules(proc.stderr)
    assert COMMAND in modules and "argparse" not in modules
    # An error on that road reads as on the full command line's.
    proc = modelenv(project, "create", "nope", *idx(wheelhouse))
    assert proc.returncode == 2
    assert proc.stderr.startswith("modelenv: error: "), proc.stderr
    # Checking locks compiles none: the lock compiler (uv, its error reader) stays out.
    proc = modelenv(project, "lock", "--check", importtime=True)
    assert proc.returncode == 0, proc.stderr
    modules = imported_modules(proc.stderr)
    assert COMMAND in modules and "compiler.lockkey" in modules
    assert {"compiler.locking", "compiler.lockerrors", "compiler.uv"} & modules == set()


# ---------------------------------------------------------------- the exit

_ENTRY = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('torn down', file=sys.stderr))\n"
    "from compiler.launch import entry\n"
    "sys.argv = ['modelenv', *sys.argv[1:]]\n"
    "entry()\n"
)


def test_the_command_exits_without_teardown_and_keeps_its_output(tmp_path: Path) -> None:
    """The exit skips the interpreter's teardown (atexit handlers do not run),
    yet every byte printed reaches the reader, and the status is main's."""
    expected = run_cli_text(["completion", "bash"])
    proc = subprocess.run(
        [sys.executable, "-c", _ENTRY, "completion", "bash"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout) == (0, expected)
    assert "torn down" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-c", _ENTRY, "create", "m", "--specs", str(tmp_path / "none")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith("modelenv: error:"), proc.stderr
    assert "torn down" not in proc.stderr


def test_a_profiled_command_exits_the_usual_way(tmp_path: Path) -> None:
    """cProfile (like coverage or a debugger) writes its results at the usual
    exit: a process something observes is not cut short."""
    out = tmp_path / "profile.out"
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "compiler", "completion", "bash"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def _monitoring_python() -> str | None:
    """An interpreter with sys.monitoring (3.12+) beside this one's base, if any."""
    for folder in sorted(Path(sys.base_prefix).parent.glob("3.1[2-9]*"), reverse=True):
        found = sorted(folder.glob("bin/python3.1[2-9]"))
        if found:
            return str(found[0])
    return None


def test_a_command_watched_through_sys_monitoring_exits_the_usual_way(tmp_path: Path) -> None:
    """Coverage's sysmon core and debuggers on 3.12+ watch through
    sys.monitoring, which no profile or trace function shows: such a process
    also exits the usual way (its atexit handlers run)."""
    python = _monitoring_python()
    if python is None:
        pytest.skip("no Python 3.12+ beside this one")
    script = "import sys\nsys.monitoring.use_tool_id(3, 'watcher')\n" + _ENTRY
    proc = subprocess.run(
        [python, "-c", script, "completion", "bash"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "complete" in proc.stdout
    assert "torn down" in proc.stderr


_MAIN = "import sys; from compiler.launch import main; sys.exit(main())"


def run_cli_text(argv: list[str]) -> str:
    """What ``modelenv ARGV`` prints, from the exit the usual way."""
    proc = subprocess.run(
        [sys.executable, "-c", _MAIN, *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# ---------------------------------------------------------------- helpers


def modelenv(
    project: Path, *argv: str, timeout: float = 120, importtime: bool = False, **kw: object
) -> subprocess.CompletedProcess[str]:
    """``modelenv ARGV`` as a process in ``project``; ``importtime``: with
    ``-X importtime``, for :func:`imported`."""
    timing = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *timing, "-m", "compiler", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        **kw,  # type: ignore[call-overload]
    )


@pytest.fixture()
def ready(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """Model m, locked and built; index settings in the environment."""
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n')
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    return created_path(out)


def imported_modules(stderr: str) -> set[str]:
    """The modules named by ``-X importtime``."""
    found = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", stderr, re.MULTILINE)
    assert found, "-X importtime reported nothing"
    return set(found)


def imported(stderr: str) -> set[str]:
    """Top-level packages named by ``-X importtime``."""
    return {name.split(".")[0] for name in imported_modules(stderr)}


# Imported when a command serves an invocation, never when the launch path
# answers it. (Not compiler.commands.create: -X importtime does not report a
# module imported through importlib.import_module.)
COMMAND = "compiler.dispatch"


HEAVY = {"argparse", "configparser", "packaging", "pydantic", "jinja2", "tomllib", "hashlib"}

# ---------------------------------------------------------------- up to date, fast


def test_up_to_date_create_and_run_import_nothing_heavy(ready: Path, project: Path) -> None:
    proc = modelenv(project, "create", "m", importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == ready
    assert "up to date: m [default, py" in proc.stderr
    assert imported(proc.stderr) & HEAVY == set()
    proc = modelenv(project, "run", "m", "true", importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert imported(proc.stderr) & HEAVY == set()


def test_ensure_env_imports_nothing_heavy(ready: Path, project: Path) -> None:
    # The API layers on the calling interpreter, the command line on the one
    # beneath its venv: the API's environment is built first.
    built = compiler.ensure_env("m")
    assert built is not None
    code = (
        "import sys, compiler\n"
        "env = compiler.ensure_env('m')\n"
        "print(env.path)\n"
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    path, heavy = proc.stdout.strip().splitlines()
    assert Path(path) == built.path
    assert heavy == "[]"


def test_repeated_ensure_env_reads_no_file(
    ready: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiler.ensure_env("m")  # builds the API's environment (see above)
    env = compiler.ensure_env("m")
    assert env is not None and env.path == ready

    def refuse(*_args: object, **_kw: object) -> None:
        raise AssertionError("the record was read again")

    monkeypatch.setattr(fresh, "read_record", refuse)
    again = compiler.ensure_env("m")
    assert again is not None and again.path == ready and again.record == env.record


def test_the_fast_path_is_not_blocked_by_another_build(ready: Path, project: Path) -> None:
    """An unrelated build of the same model and Python holds the file lock and
    has left a staging folder: an up-to-date environment is handed out at once."""
    root = ready.parent
    (root / f".{XYZ}.build-999999").mkdir()
    (root / f".{XYZ}.old-999999").mkdir()
    with FileLock(str(root / f".{XYZ}.lock")):
        for argv in (["create", "m"], ["run", "m", "python", "-c", "print('ran')"]):
            # The bound only keeps a regression from hanging the suite.
            proc = modelenv(project, *argv, timeout=120)
            assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "ran"
    assert compiler.ensure_env("m") is not None


def test_a_changed_file_sends_the_launch_to_the_full_check(ready: Path, project: Path) -> None:
    """A spec rewritten with the same bytes is a new file (the fast path misses)
    but the same request (the full check finds the environment up to date, and
    notes the file's new identity: see test_refresh.py)."""
    spec = project / "specs" / "m.toml"
    before = json.loads((ready / RECORD_NAME).read_text())
    spec.write_bytes(spec.read_bytes())
    os.utime(spec, ns=(1, 1))
    proc = modelenv(project, "create", "m")
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stderr
    after = json.loads((ready / RECORD_NAME).read_text())
    assert after["launch"] != before["launch"]
    assert {**after, "launch": None, "checksum": None} == {
        **before,
        "launch": None,
        "checksum": None,
    }


def test_a_venv_recreated_on_another_base_is_noticed_by_the_fast_path(
    ready: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line layers on the interpreter beneath its venv. A venv
    recreated in place on another interpreter keeps sys.executable; the full
    check then finds another base, and so must the fast path (no stale env)."""
    from compiler.paths import Paths
    from compiler.request import Request
    from compiler.store import find_current

    args = launch.parse_fast(["create", "m"])
    assert args is not None
    found = launch._fast(args)
    assert found is not None and Path(found.path) == ready
    other = tmp_path / "another-python"
    monkeypatch.setattr(sys, "base_prefix", str(other))
    monkeypatch.setattr(sys, "_base_executable", str(other / "bin" / "python3"), raising=False)
    request = Request(model="m", base_beneath_venv=True)
    assert find_current(Paths.resolve(), request, skip_installed=True) is None
    assert launch._fast(args) is None


def test_a_record_without_launch_inputs_is_still_up_to_date(ready: Path, project: Path) -> None:
    """Records written before the launch inputs existed are checked the long way."""
    from compiler.store import seal

    data = json.loads((ready / RECORD_NAME).read_text())
    del data["launch"]
    (ready / RECORD_NAME).write_text(json.dumps(seal(data)))
    proc = modelenv(project, "create", "m")
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stderr and Path(proc.stdout.strip()) == ready


# ---------------------------------------------------------------- run: exec, status, lease


def test_run_becomes_the_command(ready: Path, project: Path) -> None:
    """The command keeps modelenv's pid and the lease: SIGTERM to that pid
    reaches the command, and gc leaves the environment alone while it runs."""
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(600)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", "run", "m", "python", "-c", code],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(proc.pid)
        assert leases.live_leases(ready) == [proc.pid]
        gc = modelenv(project, "gc", "--max-size", "0")
        assert gc.returncode == 0, gc.stderr
        assert ready.exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    assert leases.live_leases(ready) == []
    gc = modelenv(project, "gc", "--max-size", "0")
    assert gc.returncode == 0, gc.stderr
    assert not ready.exists()


def test_an_environment_removed_before_its_lease_is_built_again_not_run_outside(
    ready: Path, project: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """remove/gc may take the environment between the launch path's check and
    its lease: `python` must then not be found further down PATH (the base
    interpreter, outside the environment); the full CLI builds it again."""
    real_take = launch.take_lease
    taken: list[str] = []

    def removed_first(env_path: str, pid: int | None = None) -> str:
        if not taken:
            assert run_cli(capfd, "remove", "m")[0] == 0
        taken.append(env_path)
        return real_take(env_path, pid)

    monkeypatch.setattr(launch, "take_lease", removed_first)
    code = "import sys, beta; print(sys.prefix)"
    with pytest.raises(SystemExit) as done:
        launch.main(["run", "m", "--", "python", "-c", code])
    assert done.value.code == 0
    out = capfd.readouterr().out
    assert out.strip().splitlines()[-1] == str(ready)  # run in the rebuilt environment
    assert len(taken) == 1  # then the full CLI, which leases through compiler.leases
    assert leases.live_leases(ready) == []  # the launch path's lease was dropped


def test_a_bare_command_never_runs_outside_an_environment_that_went_away(tmp_path: Path) -> None:
    gone = tmp_path / "env"
    env = {"PATH": f"{gone}/bin{os.pathsep}{os.environ['PATH']}"}
    assert launch.exec_command(["python", "-V"], env, str(gone)) == 127


def test_run_without_double_dash_and_exit_statuses(ready: Path, project: Path) -> None:
    proc = modelenv(project, "run", "m", "python", "-c", "import beta, sys; sys.exit(5)")
    assert proc.returncode == 5, proc.stderr
    proc = modelenv(project, "run", "m", "--python", XY, "python", "-c", "print('x')")
    assert (proc.returncode, proc.stdout) == (0, "x\n"), proc.stderr
    proc = modelenv(project, "run", "m", "no-such-command-xyz", "--flag")
    assert proc.returncode == 127
    assert proc.stderr == (
        "modelenv: error: command not found: no-such-command-xyz"
        f" (looked in {ready}/bin and PATH)\n"
    )
    script = project / "not-executable.sh"
    script.write_text("echo hi\n")
    proc = modelenv(project, "run", "m", str(script))
    assert proc.returncode == 126, proc.stderr
    assert "cannot execute" in proc.stderr
    # The same through the full command line (-v is not the fast path's).
    proc = modelenv(project, "run", "-v", "m", "no-such-command-xyz")
    assert proc.returncode == 127, proc.stderr
    assert "command not found: no-such-command-xyz" in proc.stderr


def test_run_restores_sigpipe_for_the_command(ready: Path, project: Path) -> None:
    """Python ignores SIGPIPE and exec would pass that on: `run m yes | head`
    must end yes by the signal, as a shell would."""
    proc = subprocess.run(
        f"{sys.executable} -m compiler run m yes | head -n 1; echo ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.stdout.split() == ["y", str(128 + signal.SIGPIPE)], proc.stderr


# ---------------------------------------------------------------- fastio


def test_fast_json_and_sha256_agree_with_the_standard_modules(ready: Path) -> None:
    import hashlib

    from compiler import fastio

    text = (ready / RECORD_NAME).read_text()
    assert fastio.json_loads(text) == json.loads(text)
    body = {**json.loads(text), "odd": ['é"\n\t', 1.5, -2, None, False, {"b": 1, "a": [2]}]}
    assert fastio.canonical_json(body) == json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert fastio.sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    for bad in ("", "{", "{} x", "nan", "[1,]"):
        with pytest.raises(ValueError):
            fastio.json_loads(bad)


def test_a_lease_folder_that_is_a_link_is_never_followed(ready: Path, tmp_path: Path) -> None:
    from compiler import fastio

    outside = tmp_path / "outside"
    outside.mkdir()
    folder = leases.lease_dir(ready)
    folder.symlink_to(outside)
    lease = fastio.take_lease(str(ready), 4242)
    assert os.listdir(outside) == []
    assert folder.is_dir() and not folder.is_symlink()
    assert Path(lease) == folder / "4242"


def test_noting_a_use_never_touches_a_file_through_a_link(ready: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    os.utime(outside, ns=(1, 1))
    record = ready / RECORD_NAME
    record.unlink()
    record.symlink_to(outside)
    fresh.note_used(str(ready))
    assert outside.stat().st_mtime_ns == 1


@pytest.mark.parametrize(
    "text",
    [
        '[tool.modelenv]\nhome = "h"\n',
        '[ tool . modelenv ]\nhome = "h"\n',
        '[tool."modelenv"]\nhome = "h"\n',
        '[tool]\nmodelenv = { home = "h" }\n',
        '[project]\nname = "x"\ntool = 1\n[ tool ]\nmodelenv.home = "h"\n',
        'tool = { modelenv = { home = "h" } }\n',
        'tool.modelenv.home = "h"\n',
    ],
)
def test_every_spelling_of_tool_modelenv_is_read_by_the_fast_path(
    project: Path, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However [tool.modelenv] is written, the launch path reads it as the
    command line does (here: another home, relative to the project)."""
    monkeypatch.delenv("MODELENV_HOME")  # it would win over [tool.modelenv]
    (project / "pyproject.toml").write_text(text)
    dirs = fresh.resolve_dirs(None, None, None)
    assert dirs == (str(project / "specs"), str(project / "locks"), str(project / "h"))


@pytest.mark.parametrize(
    "text",
    [
        "[tool.modelenv]\nhome = 3\n",
        '[tool.modelenv]\nhomes = "h"\n',
        "[tool.modelenv]\njobs = true\n",
        "[tool.modelenv]\njobs = 0\n",
        '[tool.modelenv]\nfind-links = ["a", 1]\n',
        'tool.modelenv = "h"\n',
        '[tool.modelenv\nhome = "h"\n',
    ],
)
def test_a_tool_modelenv_the_command_line_refuses_is_left_to_it(project: Path, text: str) -> None:
    (project / "pyproject.toml").write_text(text)
    assert fresh.resolve_dirs(None, None, None) is None
    assert run_modelenv_status(project) == 2  # the full command line says why


def run_modelenv_status(project: Path) -> int:
    return modelenv(project, "create", "m").returncode


def test_the_fast_path_knows_every_key_of_tool_modelenv() -> None:
    from compiler import project

    assert {key: kind for key, (kind, _) in project.KEYS.items()} == fresh.PROJECT_KEYS


def test_settings_of_tool_modelenv_order_as_on_the_command_line(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELENV_HOME")  # it would win over [tool.modelenv]
    (project / "pyproject.toml").write_text(
        '[tool.modelenv]\nspecs = "s"\nlocks = "~/l"\nhome = "h"\njobs = 2\n'
    )
    home = Path(os.environ["HOME"])
    assert fresh.resolve_dirs(None, None, None) == (
        str(project / "s"),
        str(home / "l"),
        str(project / "h"),
    )
    monkeypatch.setenv("MODELENV_HOME", str(project / "env-home"))
    assert fresh.resolve_dirs(None, None, "cli-home")[2] == str(project / "cli-home")
    assert fresh.resolve_dirs(None, None, None)[2] == str(project / "env-home")
    (project / "pyproject.toml").write_text("[tool.modelenv]\n")
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert fresh.resolve_dirs(None, None, None)[0] == str(project / "specs")


def test_a_pyproject_that_only_depends_on_modelenv_keeps_the_fast_path(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "server"\ndependencies = ["modelenv>=1"]\n'
    )
    assert fresh.resolve_dirs(None, None, None) is not None


def test_the_fast_path_finds_the_project_as_the_command_line_does(
    ready: Path, project: Path
) -> None:
    """From a subfolder the project's specs/ is found (walking up, as git and
    uv do), and a pyproject.toml's [tool.modelenv] is read as the CLI reads it."""
    sub = project / "docs" / "deep"
    sub.mkdir(parents=True)
    proc = modelenv(sub, "create", "m", importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == ready
    assert COMMAND not in imported_modules(proc.stderr)  # served by the fast path
    (project / "specs").rename(project / "model-specs")
    (project / "pyproject.toml").write_text('[tool.modelenv]\nspecs = "model-specs"\n')
    proc = modelenv(sub, "create", "m", importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1]) == ready
    assert COMMAND not in imported_modules(proc.stderr)  # [tool.modelenv] read on the fast path
    # A home given as "../x" is printed alike by the launch path and the command line.
    (project / "pyproject.toml").write_text(
        '[tool.modelenv]\nspecs = "model-specs"\n'
        f'home = "{os.path.relpath(ready.parents[4], project)}"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "MODELENV_HOME"}
    fast = modelenv(sub, "create", "m", env=env)
    full = modelenv(sub, "create", "m", "-v", env=env)
    assert fast.returncode == full.returncode == 0, fast.stderr + full.stderr
    assert fast.stdout.splitlines()[-1] == full.stdout.splitlines()[-1] == str(ready)


def test_an_option_value_that_names_a_command_is_not_the_command(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """``--home create list`` lists the home ``create``: the subcommand is the
    first word that is not an option's value (it was an internal error)."""
    code, out, err = run_cli(capfd, "--home", "create", "list")
    assert code == 0, err
    assert f"no environments under {project / 'create'}" in out + err
