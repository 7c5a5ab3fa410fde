"""Fixtures shared by every test: isolation from this machine, a project
folder, and a local wheelhouse in place of a package index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from filelock import FileLock

from compiler import launch, probecache
from compiler.cli import main

from .wheels import make_wheel

REPO = Path(__file__).resolve().parent.parent
ENGINES = """\
[vllm]
packages = ["vllm>=0.11.2"]

[transformers]
packages = ["transformers>=4.53.3", "accelerate>=0.28.0"]

["llama.cpp"]
packages = ["xllamacpp>=0.2.6"]
"""


# Modules whose tests share a costly setup, built once per worker: one worker
# runs each of them whole (see pytest_xdist_make_scheduler).
TOGETHER = ("tests/test_ray.py", "tests/test_precommit.py")  # the Ray cluster, pre-commit's install


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long tests first, so that no worker is left with one at the end (the
    modules of TOGETHER, then the tests marked ``slow``). Nothing is deselected."""

    def rank(item: pytest.Item) -> int:
        if item.nodeid.split("::", 1)[0] in TOGETHER:
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: the collection order within each rank


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (make test): the tests are handed out one by one in
    their order as workers free up, and each module of TOGETHER as one unit.
    (pytest-xdist's own xdist_group marks no longer group under pytest 9,
    whose node ids do not take its suffix.)"""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Together(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in TOGETHER else nodeid

    return Together(config, log)


def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of this test run shared by every pytest-xdist worker (the
    run's own base folder when there are no workers)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """``shared_tmp/name``, made by ``build(folder)`` in the first worker that
    asks; the others wait for it (bounded) and use it as it is."""
    folder = shared_tmp(tmp_path_factory) / name
    done = folder.with_name(f"{name}.done")
    with FileLock(str(folder.with_name(f"{name}.lock")), timeout=900):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


def _base_site_packages() -> set[str]:
    """The distributions of the interpreter beneath the test venv (where the
    command line layers environments by default)."""
    import sysconfig

    found: set[str] = set()
    for key in ("purelib", "platlib"):
        folder = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})[
            key
        ]
        if os.path.isdir(folder):
            found.update(n for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info")))
    return found


@pytest.fixture(autouse=True, scope="session")
def _base_interpreter_untouched() -> Iterator[None]:
    """No test may install into the base interpreter: a build that loses its
    venv under uv once did (see compiler.children)."""
    before = _base_site_packages()
    yield
    added = sorted(_base_site_packages() - before)
    assert not added, f"the tests installed into the base interpreter {sys.base_prefix}: {added}"


@pytest.fixture(scope="session")
def probe_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What tests learnt of the interpreters they share (this one, the one
    beneath its venv), kept in each worker as modelenv keeps it in a home."""
    return tmp_path_factory.mktemp("probe-cache")


def _share_probes(
    home: Path, shared: Path, temporary: str, request: pytest.FixtureRequest
) -> Iterator[None]:
    """Seed ``home``'s probe cache with the shared entries, and after the test
    keep the new ones for interpreters outside the test run's temporary
    folders. An entry stays valid only while its interpreter's files are what
    they were (compiler.probecache checks): sharing it spares each test a start
    of the base interpreter (~60 ms of CPU), never a change it should see.
    Tests marked ``own_probe_cache`` start with an empty one."""
    folder = home.joinpath(*probecache.FOLDER)
    if request.node.get_closest_marker("own_probe_cache"):
        yield
        return
    entries = list(shared.iterdir())
    if entries:
        folder.mkdir(parents=True)
        for entry in entries:
            shutil.copyfile(entry, folder / entry.name)
    yield
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if (shared / entry.name).exists() or entry.is_symlink() or not entry.is_file():
            continue
        try:
            executable = json.loads(entry.read_text())["executable"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(executable, str) and not executable.startswith(temporary):
            keep = shared / f".{entry.name}.{os.getpid()}"
            shutil.copyfile(entry, keep)
            os.replace(keep, shared / entry.name)


@pytest.fixture(autouse=True)
def _isolate(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    uv_cache: Path,
    probe_cache: Path,
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """Nothing a test does may read this machine's pip/uv settings or write to
    the real home directory."""
    fake_home = tmp_path_factory.mktemp("home")
    for var in list(os.environ):
        if var.startswith(("PIP_", "UV_", "MODELENV_", "VIRTUAL_ENV", "CONDA_")):
            monkeypatch.delenv(var)
    # pytest-xdist's workers set COLUMNS=80 and LINES=24 (argparse wraps help to
    # them): every test sees what a plain run sees. uv.run gives uv a fixed
    # width itself (test_lockerrors runs with COLUMNS=40 to show it).
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(fake_home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(fake_home / ".cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("UV_NO_PROGRESS", "1")
    # Every index a test names is local or unreachable on purpose: uv gives up
    # on an unreachable one at once, not after its retries with backoff.
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("MODELENV_HOME", str(fake_home / "modelenv-home"))
    # The probe cache's home is set by each plan; none may leak between tests.
    monkeypatch.setattr(probecache, "_home", [])
    temporary = str(shared_tmp(tmp_path_factory))  # every worker's folders
    yield from _share_probes(fake_home / "modelenv-home", probe_cache, temporary, request)


@pytest.fixture(autouse=True)
def _exec_in_a_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """``modelenv run`` ends by exec-ing its command, which in-process would
    replace pytest: there, run it as a child and end the "process" with its
    status, releasing the lease the exec'd command would have held until it exited.
    Tests that run modelenv as a real process (run_modelenv) exec for real."""

    def fake_execve(program: str, argv: list[str], env: dict[str, str]) -> NoReturn:
        code = subprocess.run(argv, executable=program, env=env, check=False).returncode
        lease = Path(env["VIRTUAL_ENV"])
        (lease.parent / f".{lease.name}.leases" / str(os.getpid())).unlink(missing_ok=True)
        raise SystemExit(code if code >= 0 else 128 - code)

    monkeypatch.setattr(launch, "_execve", fake_execve)


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with specs/_engines.toml, as the current folder."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "_engines.toml").write_text(ENGINES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def wheelhouse(tmp_path: Path) -> Path:
    """A folder of tiny wheels, used with --no-index --find-links."""
    folder = tmp_path / "wheelhouse"
    make_wheel(folder, "alpha", "1.0.0")
    make_wheel(folder, "beta", "2.0.0", requires=["alpha>=1.0"])
    make_wheel(folder, "gamma", "0.5.0")
    return folder


def write_spec(project: Path, name: str, body: str) -> Path:
    path = project / "specs" / f"{name}.toml"
    path.write_text(f'[model]\nname = "{name}"\n\n{body}')
    return path


def cli_base_env() -> dict[str, str]:
    """os.environ for an ensure_env() process that should find what the command
    line built: the command line layers on the interpreter beneath the venv the
    tests run in, ensure_env() on the calling interpreter unless told."""
    from compiler.paths import beneath_venv

    beneath = beneath_venv()
    return {**os.environ, **({"MODELENV_BASE_PYTHON": beneath} if beneath else {})}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``modelenv ARGV`` in-process; return (exit status, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_modelenv(
    *argv: str, cwd: Path | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run ``modelenv ARGV`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "compiler", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        **kw,  # type: ignore[call-overload]
    )


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("UV_OFFLINE", "1")
    yield
