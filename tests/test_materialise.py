"""Building environments: `modelenv create` and `modelenv run`.

Every environment here is hermetic: tiny wheels from the ``wheelhouse`` fixture
(``--no-index --find-links``), the Python running the tests, and, where the
host's packages matter, a clean base virtual environment made with ``uv venv``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import compiler.uv
from compiler.host import _pyenv_pythons, inspect_interpreter
from compiler.lockfile import body_of, sha256_text
from compiler.store import LOCK_NAME, RECORD_NAME, read_record

from .conftest import cli_base_env, run_cli, write_spec
from .wheels import make_wheel

XY = f"{sys.version_info[0]}.{sys.version_info[1]}"
XYZ = "{}.{}.{}".format(*sys.version_info[:3])
# The interpreter behind the test venv (e.g. ~/.pyenv/versions/3.11.7/bin/python3.11).
BASE_INTERPRETER = Path(sys.base_prefix) / "bin" / f"python{XY}"
SPEC = f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n'


# ---------------------------------------------------------------- helpers


def idx(wheelhouse: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(wheelhouse))


def home() -> Path:
    return Path(os.environ["MODELENV_HOME"])


def env_root(model: str = "m", engine: str = "default") -> Path:
    return home() / "virtualenv" / "v4" / model / engine


def env_dir(model: str = "m", version: str = XYZ) -> Path:
    return env_root(model) / version


def lock_file(project: Path, model: str = "m", python: str = XY) -> Path:
    return project / "locks" / model / "default" / f"py{python}.txt"


def in_env(env: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the environment's own interpreter."""
    return subprocess.run(
        [str(env / "bin" / "python"), "-c", code], capture_output=True, text=True, check=False
    )


def version_in(env: Path, module: str) -> str:
    proc = in_env(env, f"import {module}; print({module}.__version__)")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def site_packages(env: Path) -> Path:
    found = list(env.glob("lib/python*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def dist_infos(env: Path, name: str) -> list[str]:
    return sorted(p.name for p in site_packages(env).glob(f"{name}-*.dist-info"))


def record(env: Path) -> dict:
    data = read_record(env)
    assert data is not None, f"no valid record in {env}"
    return data


def leftovers(version: str = XYZ, model: str = "m") -> list[str]:
    root = env_root(model)
    if not root.is_dir():
        return []
    return sorted(
        n for n in os.listdir(root) if n.startswith((f".{version}.build-", f".{version}.old-"))
    )


def lock(capfd: pytest.CaptureFixture[str], wheelhouse: Path, *extra: str) -> None:
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse), *extra)
    assert code == 0, err


def create(
    capfd: pytest.CaptureFixture[str], wheelhouse: Path, *extra: str, model: str = "m"
) -> tuple[int, str, str]:
    code, out, err = run_cli(capfd, "create", model, *idx(wheelhouse), *extra)
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    return code, out, err


def created_path(out: str) -> Path:
    return Path(out.strip().splitlines()[-1])


def make_base(path: Path, wheels: Path | None = None, *reqs: str) -> Path:
    """A clean base virtual environment holding ``reqs`` (from ``wheels``)."""
    uv = compiler.uv.uv_binary()
    subprocess.run(
        [uv, "venv", "--quiet", "--python", str(BASE_INTERPRETER), str(path)],
        check=True,
        capture_output=True,
    )
    python = path / "bin" / "python"
    if reqs:
        assert wheels is not None
        install = ["pip", "install", "--quiet", "--python", str(python), "--no-index"]
        subprocess.run(
            [uv, *install, "--find-links", str(wheels), *reqs], check=True, capture_output=True
        )
    return python


def modelenv_proc(
    project: Path, *argv: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``modelenv ARGV`` as a real process with this test's environment
    variables, and the signals a shell leaves as they are by default: started
    under nohup or in the background, pytest ignores SIGHUP or SIGINT, and a
    child would inherit that (as modelenv rightly keeps it)."""
    env = os.environ.copy()
    env.update(extra_env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "compiler", *argv],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_signals,
    )


def _default_signals() -> None:
    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def wait_for_line(path: Path, line: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and line in path.read_text().splitlines():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"modelenv exited ({proc.returncode}) before step {line!r}:\n{out}\n{err}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"step {line!r} never reached")


@pytest.fixture()
def locked(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    """Model m (packages = ["beta"], so beta 2.0.0 and alpha 1.0.0), locked."""
    write_spec(project, "m", SPEC)
    lock(capfd, wheelhouse)
    path = lock_file(project)
    assert path.is_file()
    return path


@pytest.fixture()
def built(locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    """Model m, locked and created on the running interpreter."""
    code, out, err = create(capfd, wheelhouse)
    assert code == 0, err
    return created_path(out)


# ---------------------------------------------------------------- create


def test_create_builds_the_locked_versions_from_the_committed_lock(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = create(capfd, wheelhouse)
    assert code == 0, err
    path = created_path(out)
    assert path == env_dir()
    assert path.is_absolute()
    assert "created m [default, py" in err
    assert "from the committed lock" in err
    assert version_in(path, "alpha") == "1.0.0"
    assert version_in(path, "beta") == "2.0.0"
    rec = record(path)
    assert rec["lock_source"] == "committed"
    assert rec["model"] == "m" and rec["engine"] == "default" and rec["python"] == XY
    assert sorted(rec["installed"]) == ["alpha==1.0.0", "beta==2.0.0"]
    # The lock the environment was built from is kept beside it, byte for byte.
    assert (path / LOCK_NAME).read_bytes() == locked.read_bytes()
    assert leftovers() == []


def test_second_create_is_a_no_op_that_runs_no_uv(
    built: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = (built / RECORD_NAME).read_bytes()

    def no_uv(*args: object, **kw: object) -> None:
        raise AssertionError(f"uv ran on an up-to-date environment: {args}")

    monkeypatch.setattr(compiler.uv, "run", no_uv)
    code, out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert created_path(out) == built
    assert "up to date: m [default, py" in err
    assert (built / RECORD_NAME).read_bytes() == before


_HEAVY = re.compile(r"\|\s*(pydantic|jinja2)(\.|\s*$)")


def test_up_to_date_create_imports_neither_pydantic_nor_jinja2(
    built: Path, project: Path, wheelhouse: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "compiler", "create", "m", *idx(wheelhouse)],
        cwd=project,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert created_path(proc.stdout) == built
    assert "up to date" in proc.stderr
    assert "import time:" in proc.stderr  # -X importtime did report
    heavy = [line for line in proc.stderr.splitlines() if _HEAVY.search(line)]
    assert heavy == []


def test_cold_create_imports_no_pydantic(locked: Path, project: Path, wheelhouse: Path) -> None:
    # Valid specs are loaded by the fast validator (compiler/spec/fast.py).
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "compiler", "create", "m", *idx(wheelhouse)],
        cwd=project,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert created_path(proc.stdout) == env_dir()
    assert "import time:" in proc.stderr  # -X importtime did report
    heavy = [line for line in proc.stderr.splitlines() if _HEAVY.search(line)]
    assert heavy == []


def test_up_to_date_ensure_env_imports_neither_pydantic_nor_jinja2(
    built: Path, project: Path
) -> None:
    code = (
        "import sys, compiler\n"
        "env = compiler.ensure_env('m')\n"
        "print(env.path)\n"
        "print('pydantic' in sys.modules, 'jinja2' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=cli_base_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    path, flags = proc.stdout.strip().splitlines()
    assert Path(path) == built
    assert flags == "False False"


def test_package_override_rebuilds_from_a_local_lock_and_keeps_the_committed_one(
    built: Path, locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    committed = locked.read_bytes()
    make_wheel(wheelhouse, "alpha", "1.1.0")
    code, out, err = create(capfd, wheelhouse, "-p", "alpha==1.1.0")
    assert code == 0, err
    assert created_path(out) == built
    assert "the committed lock does not apply" in err
    assert "-p" in err
    assert "rebuilt m [default, py" in err
    assert "from the local lock" in err
    assert version_in(built, "alpha") == "1.1.0"
    assert version_in(built, "beta") == "2.0.0"
    rec = record(built)
    assert rec["lock_source"] == "local"
    assert "alpha==1.1.0" in rec["installed"]
    assert locked.read_bytes() == committed
    assert "alpha==1.1.0" in (built / LOCK_NAME).read_text()
    assert leftovers() == []
    # The same request again is up to date; dropping -p goes back to the committed lock.
    code, _out, err = create(capfd, wheelhouse, "-p", "alpha==1.1.0")
    assert code == 0 and "up to date" in err
    code, _out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "rebuilt" in err and "from the committed lock" in err
    assert version_in(built, "alpha") == "1.0.0"
    assert locked.read_bytes() == committed


def test_a_changed_spec_rebuilds_from_a_local_lock(
    built: Path, project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", SPEC.replace('["beta"]', '["beta", "gamma"]'))
    code, _out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "is stale" in err
    assert "rebuilt" in err
    assert version_in(built, "gamma") == "0.5.0"
    assert record(built)["lock_source"] == "local"


def test_force_rebuilds_an_up_to_date_environment(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    created = record(built)["created"]
    (built / "marker").write_text("from the old build")
    code, out, err = create(capfd, wheelhouse, "--force")
    assert code == 0, err
    assert created_path(out) == built
    assert "rebuilt" in err
    assert not (built / "marker").exists()
    assert created <= record(built)["created"]
    assert leftovers() == []


def test_engine_default_names_the_same_environment(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = create(capfd, wheelhouse, "--engine", "default", "--python", XY)
    assert code == 0, err
    assert "up to date" in err
    assert created_path(out) == built


def test_the_overrides_file_is_part_of_the_request(
    built: Path, locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    make_wheel(wheelhouse, "alpha", "1.1.0")
    overrides = home() / "overrides.toml"
    overrides.write_text('[models.m]\npackages = ["alpha==1.1.0"]\n')
    code, _out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "overrides or -p change the requirements" in err
    assert "rebuilt" in err
    assert version_in(built, "alpha") == "1.1.0"
    assert record(built)["lock_source"] == "local"
    code, _out, err = create(capfd, wheelhouse)
    assert "up to date" in err
    # Without the file, the committed lock applies again.
    overrides.unlink()
    code, _out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "rebuilt" in err and "from the committed lock" in err
    assert version_in(built, "alpha") == "1.0.0"


# ---------------------------------------------------------------- the host


def test_skip_installed_reuses_a_host_package_at_the_locked_version(
    locked: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    env = created_path(out)
    assert "1 installed, 1 reused from the host" in err
    rec = record(env)
    assert rec["reused"] == ["alpha==1.0.0"]
    assert rec["installed"] == ["beta==2.0.0"]
    assert rec["skip_installed"] is True
    assert rec["base"]["executable"] == str(base)
    assert dist_infos(env, "alpha") == []
    assert dist_infos(env, "beta") == ["beta-2.0.0.dist-info"]
    proc = in_env(env, "import alpha, beta; print(alpha.__version__, alpha.__file__)")
    assert proc.returncode == 0, proc.stderr
    version, where = proc.stdout.split()
    assert version == "1.0.0"
    assert where.startswith(str(tmp_path / "base"))


def test_skip_installed_installs_when_the_host_version_differs(
    locked: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old-wheels"
    make_wheel(old, "alpha", "0.9.0")
    base = make_base(tmp_path / "base", old, "alpha==0.9.0")
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    env = created_path(out)
    rec = record(env)
    assert rec["reused"] == []
    assert sorted(rec["installed"]) == ["alpha==1.0.0", "beta==2.0.0"]
    assert dist_infos(env, "alpha") == ["alpha-1.0.0.dist-info"]
    # The environment's own copy wins over the host's.
    assert version_in(env, "alpha") == "1.0.0"


def test_no_skip_installed_installs_everything(
    locked: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base), "--no-skip-installed")
    assert code == 0, err
    env = created_path(out)
    rec = record(env)
    assert rec["reused"] == []
    assert rec["skip_installed"] is False
    assert sorted(rec["installed"]) == ["alpha==1.0.0", "beta==2.0.0"]
    assert dist_infos(env, "alpha") == ["alpha-1.0.0.dist-info"]
    proc = in_env(env, "import alpha; print(alpha.__file__)")
    assert proc.stdout.startswith(str(env)), proc.stdout
    # Switching the flag is a different request: the environment is rebuilt.
    code, _out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    assert "rebuilt" in err
    assert record(env)["reused"] == ["alpha==1.0.0"]


def test_skip_installed_reuses_a_system_package_with_a_local_version_label(
    project: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    local = tmp_path / "local-wheels"
    make_wheel(local, "alpha", "1.0.0+cpu")
    base = make_base(tmp_path / "base", local, "alpha==1.0.0+cpu")
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["#system_alpha#"]\n')
    lock(capfd, wheelhouse, "--base-python", str(base))
    assert "alpha==1.0.0" in lock_file(project).read_text()
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    env = created_path(out)
    rec = record(env)
    assert rec["lock_source"] == "committed"
    # torch 2.5.1+cu121 on the host, torch==2.5.1 in the lock: the host's build is meant.
    assert rec["reused"] == ["alpha==1.0.0"]
    assert dist_infos(env, "alpha") == []
    assert version_in(env, "alpha") == "1.0.0+cpu"


@pytest.mark.parametrize("system_site", [True, False])
def test_a_virtual_environment_base_shares_its_packages_only_with_system_site_packages(
    project: Path,
    wheelhouse: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    system_site: bool,
) -> None:
    # gamma is in the base only; the model asks for beta.
    base = make_base(tmp_path / "base", wheelhouse, "gamma==0.5.0", "alpha==1.0.0")
    body = SPEC + ("" if system_site else "system_site_packages = false\n")
    write_spec(project, "m", body)
    lock(capfd, wheelhouse)
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    env = created_path(out)
    rec = record(env)
    assert rec["system_site_packages"] is system_site
    pth = site_packages(env) / "_modelenv_base.pth"
    proc = in_env(env, "import gamma; print(gamma.__version__)")
    if system_site:
        assert pth.is_file()
        assert str(tmp_path / "base") in pth.read_text()
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "0.5.0"
        assert rec["reused"] == ["alpha==1.0.0"]
    else:
        assert not pth.exists()
        assert proc.returncode != 0
        assert "No module named 'gamma'" in proc.stderr
        # Nothing can be reused from a host the environment cannot see.
        assert rec["reused"] == []
        assert rec["skip_installed"] is False
        assert version_in(env, "alpha") == "1.0.0"
        assert dist_infos(env, "alpha") == ["alpha-1.0.0.dist-info"]


_PY312 = next(iter(_pyenv_pythons("3.12")), None)


@pytest.mark.skipif(_PY312 is None, reason="no Python 3.12 in the pyenv versions folder")
def test_two_python_versions_side_by_side(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _PY312 is not None
    monkeypatch.setenv("PYENV_ROOT", str(Path(_PY312).parents[3]))
    write_spec(project, "m", '[env]\npython = ["3.11", "3.12"]\npackages = ["beta"]\n')
    lock(capfd, wheelhouse)
    assert lock_file(project, python="3.11").is_file()
    assert lock_file(project, python="3.12").is_file()
    paths = {}
    for xy in ("3.11", "3.12"):
        code, out, err = create(capfd, wheelhouse, "--python", xy)
        assert code == 0, err
        assert "from the committed lock" in err
        paths[xy] = created_path(out)
    assert paths["3.11"] != paths["3.12"]
    for xy, path in paths.items():
        assert path.parent == env_root()
        assert path.name.startswith(xy + ".")
        proc = in_env(path, "import sys, alpha, beta; print('%d.%d' % sys.version_info[:2])")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == xy
        assert record(path)["python"] == xy
    # Each is up to date on its own.
    for xy in ("3.11", "3.12"):
        code, out, err = create(capfd, wheelhouse, "--python", xy)
        assert code == 0 and "up to date" in err
        assert created_path(out) == paths[xy]


def test_an_unrelated_host_change_revalidates_without_a_rebuild(
    locked: Path,
    wheelhouse: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    env = created_path(out)
    inode = env.stat().st_ino
    # Something the environment does not use is installed into the host: its
    # site-packages change, so the fast path steps aside...
    subprocess.run(
        [
            compiler.uv.uv_binary(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(base),
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "gamma",
        ],
        check=True,
        capture_output=True,
    )

    # ...but nothing is rebuilt: no uv process runs, the record is refreshed.
    def no_uv(*_a: object, **_k: object) -> object:
        raise AssertionError("uv ran")

    monkeypatch.setattr(compiler.uv, "run", no_uv)
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    assert "revalidated m [default, py3.11]" in err
    assert created_path(out) == env and env.stat().st_ino == inode
    # The refreshed record makes the next launch a fast-path hit again.
    code, _out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert "up to date" in err


def test_a_replaced_base_interpreter_rebuilds(
    locked: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base_dir = tmp_path / "base"
    base = make_base(base_dir, wheelhouse, "alpha==1.0.0")
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    env = created_path(out)
    assert record(env)["reused"] == ["alpha==1.0.0"]
    code, _out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert "up to date" in err
    # Recreated at the same path, without alpha this time.
    subprocess.run(["rm", "-rf", str(base_dir)], check=True)
    make_base(base_dir)
    # A new modelenv process would inspect the base afresh; in this process the
    # facts of the old base are cached (see test_api for what that breaks).
    inspect_interpreter.cache_clear()
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    assert "up to date" not in err
    assert "rebuilt" in err
    assert created_path(out) == env
    assert version_in(env, "alpha") == "1.0.0"


def test_a_vanished_base_interpreter_is_a_clean_usage_error(
    locked: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base_dir = tmp_path / "base"
    base = make_base(base_dir)
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 0, err
    env = created_path(out)
    subprocess.run(["rm", "-rf", str(base_dir)], check=True)
    code, out, err = create(capfd, wheelhouse, "--base-python", str(base))
    assert code == 2
    assert out == ""
    assert err.startswith("modelenv: error:")
    assert str(base) in err and "does not exist" in err
    # The old environment is left alone (it is simply not reported as current).
    assert read_record(env) is not None


# ---------------------------------------------------------------- records


def test_a_record_edited_by_hand_is_rebuilt(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rec = record(built)
    rec["key"] = "0" * 64
    (built / RECORD_NAME).write_text(json.dumps(rec))
    code, _out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "rebuilt" in err
    assert record(built)["key"] != "0" * 64
    assert version_in(built, "alpha") == "1.0.0"


@pytest.mark.parametrize("damage", ["missing", "not json", "wrong format"])
def test_an_invalid_record_is_never_used(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str], damage: str
) -> None:
    path = built / RECORD_NAME
    if damage == "missing":
        path.unlink()
    elif damage == "not json":
        path.write_text(path.read_text()[:-20])
    else:
        path.write_text(path.read_text().replace('"format": 2', '"format": 99'))
    assert read_record(built) is None
    code, _out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "rebuilt" in err
    assert read_record(built) is not None


def test_an_environment_without_its_interpreter_is_rebuilt(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (built / "bin" / "python").unlink()
    code, _out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "rebuilt" in err
    assert version_in(built, "alpha") == "1.0.0"


# ---------------------------------------------------------------- tampering and offline


def test_a_hand_edited_committed_lock_is_not_used(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    text = locked.read_text()
    digest = re.search(r"--hash=sha256:([0-9a-f]{64})", body_of(text))
    assert digest is not None
    edited = text.replace(digest.group(1), "0" * 64)
    locked.write_text(edited)
    code, out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert "edited by hand" in err
    assert "the committed lock does not apply" in err
    env = created_path(out)
    rec = record(env)
    assert rec["lock_source"] == "local"
    assert "0" * 64 not in (env / LOCK_NAME).read_text()
    assert version_in(env, "alpha") == "1.0.0"
    assert locked.read_text() == edited  # create never rewrites a committed lock


def test_a_consistently_tampered_lock_fails_on_the_hash(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A hash changed and the header's body digest updated to match: uv refuses."""
    text = locked.read_text()
    body = body_of(text)
    digest = re.search(r"beta==2\.0\.0 \\\n\s+--hash=sha256:([0-9a-f]{64})", body)
    assert digest is not None
    new_body = body.replace(digest.group(1), "0" * 64)
    header = text[: len(text) - len(body)]
    header = re.sub(
        r"# modelenv-body-sha256: \S+", f"# modelenv-body-sha256: {sha256_text(new_body)}", header
    )
    locked.write_text(header + new_body)
    code, out, err = create(capfd, wheelhouse)
    assert code == 1
    assert out == ""
    assert "hash mismatch" in err.lower()
    assert "beta" in err
    assert not env_dir().exists()
    assert leftovers() == []


@pytest.mark.parametrize("with_lock", [False, True], ids=["resolve", "install"])
def test_offline_with_an_empty_cache_is_a_clean_error_naming_the_package(
    project: Path,
    wheelhouse: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    with_lock: bool,
) -> None:
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["alpha"]\n')
    if with_lock:
        lock(capfd, wheelhouse)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    code, out, err = run_cli(capfd, "create", "m", "--offline")
    assert code == 1, err
    assert out == ""
    assert err.startswith("modelenv: error:") or "\nmodelenv: error:" in err
    assert "Traceback" not in err and "internal error" not in err
    assert "alpha" in err
    assert not env_dir().exists()
    assert leftovers() == []


def test_an_offline_install_failure_does_not_blame_tampering(
    locked: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    code, _out, err = run_cli(capfd, "create", "m", "--offline")
    assert code == 1
    assert "not found in the cache" in err
    assert "tampered" not in err


# ---------------------------------------------------------------- killed builds


FRESH_STEPS = ["venv", "install", "lock-copy", "record", "swap-in"]
REBUILD_STEPS = ["venv", "install", "lock-copy", "record", "swap-out", "swap-in"]


def assert_no_half_built_environment() -> None:
    """Every visible directory under the model's root has a valid record."""
    root = env_root()
    if not root.is_dir():
        return
    for name in os.listdir(root):
        path = root / name
        if name.startswith(".") or not path.is_dir():
            continue
        assert read_record(path) is not None, f"{path} has no valid record"
        assert (path / "bin" / "python").exists()


def kill_at(project: Path, wheelhouse: Path, step: str, *argv: str) -> None:
    trace = project / f"trace-{step}.txt"
    proc = modelenv_proc(
        project,
        "create",
        "m",
        *idx(wheelhouse),
        *argv,
        # Held at the step until killed: a pause of fixed length could end
        # before a loaded machine lets this test see the trace line.
        extra_env={"MODELENV_TEST_TRACE": str(trace), "MODELENV_TEST_PAUSE_AT": step},
    )
    try:
        wait_for_line(trace, step, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("rebuild", "step"),
    [(False, s) for s in FRESH_STEPS] + [(True, s) for s in REBUILD_STEPS],
    ids=[f"fresh-{s}" for s in FRESH_STEPS] + [f"rebuild-{s}" for s in REBUILD_STEPS],
)
def test_sigkill_during_a_build_never_leaves_a_half_built_environment(
    locked: Path,
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    rebuild: bool,
    step: str,
) -> None:
    if rebuild:
        code, _out, err = create(capfd, wheelhouse)
        assert code == 0, err
        first = record(env_dir())
    kill_at(project, wheelhouse, step, *(["--force"] if rebuild else []))
    # The staging directory exists once uv has made the venv; a killed swap-in of a
    # rebuild also leaves the old environment moved aside.
    expected = 0 if step == "venv" else 2 if (rebuild and step == "swap-in") else 1
    assert len(leftovers()) == expected, leftovers()

    assert_no_half_built_environment()
    final = env_dir()
    if rebuild and step != "swap-in":
        # Killed before the old environment was moved aside: it is still there, intact.
        assert record(final) == first
        assert version_in(final, "alpha") == "1.0.0"
    elif not rebuild:
        assert not final.exists()

    code, out, err = create(capfd, wheelhouse)
    assert code == 0, err
    assert created_path(out) == final
    if rebuild and step != "swap-in":
        assert "up to date" in err  # the old environment is still the right one
        assert record(final) == first
    else:
        assert "created" in err
    assert version_in(final, "beta") == "2.0.0"
    assert record(final)["lock_source"] == "committed"
    if rebuild and step not in ("venv", "swap-in"):
        # The old environment is up to date: handed out at once, the killed
        # build's leftover notwithstanding (gc takes it).
        assert len(leftovers()) == 1
        code, _out, err = run_cli(capfd, "gc")
        assert code == 0, err
    # A build (or gc) removed what the killed build left.
    assert leftovers() == []
    assert_no_half_built_environment()


def test_concurrent_creates_build_once(locked: Path, project: Path, wheelhouse: Path) -> None:
    trace = project / "trace.txt"
    procs = [
        modelenv_proc(
            project,
            "create",
            "m",
            *idx(wheelhouse),
            extra_env={"MODELENV_TEST_TRACE": str(trace), "MODELENV_TEST_STEP_DELAY": "0.3"},
        )
        for _ in range(8)
    ]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    for proc, _out, err in results:
        assert proc.returncode == 0, err
    paths = {created_path(out) for _p, out, _err in results}
    assert paths == {env_dir()}
    assert trace.read_text().splitlines().count("venv") == 1
    assert trace.read_text().splitlines().count("swap-in") == 1
    assert sum("created" in err for _p, _out, err in results) == 1
    assert leftovers() == []
    assert version_in(env_dir(), "alpha") == "1.0.0"


# ---------------------------------------------------------------- run


def run_in(capfd: pytest.CaptureFixture[str], wheelhouse: Path, *cmd: str) -> tuple[int, str, str]:
    """``modelenv run [index options] m -- CMD``; options go before MODEL (see below)."""
    code, out, err = run_cli(capfd, "run", *idx(wheelhouse), "m", "--", *cmd)
    assert "Traceback" not in err and "internal error" not in err, err
    return code, out, err


def test_run_propagates_the_exit_status(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_in(capfd, wheelhouse, "python", "-c", "import sys; sys.exit(7)")
    assert code == 7, err
    code, _out, err = run_in(capfd, wheelhouse, "python", "-c", "pass")
    assert code == 0, err


def test_run_reports_a_signal_as_a_shell_does(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_in(
        capfd, wheelhouse, "python", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    )
    assert code == 128 + signal.SIGTERM, err


def test_run_uses_the_environment(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_in(
        capfd,
        wheelhouse,
        "python",
        "-c",
        "import os, sys, alpha; print(sys.prefix); print(os.environ['VIRTUAL_ENV']);"
        " print(os.environ['PATH'].split(os.pathsep)[0]); print(alpha.__version__)",
    )
    assert code == 0, err
    prefix, virtual_env, first_on_path, alpha = out.strip().splitlines()
    assert Path(prefix) == built
    assert Path(virtual_env) == built
    assert Path(first_on_path) == built / "bin"
    assert alpha == "1.0.0"


def test_run_builds_the_environment_first(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_in(capfd, wheelhouse, "python", "-c", "import beta; print('ok')")
    assert code == 0, err
    assert out.strip() == "ok"
    assert read_record(env_dir()) is not None


def test_run_without_a_command_is_a_usage_error(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    for argv in (("m",), ("m", "--"), (*idx(wheelhouse), "m")):
        code, _out, err = run_cli(capfd, "run", *argv)
        assert code == 2, (argv, err)
        assert "no command given" in err
    assert not env_dir().exists()  # nothing is built for a command that was never given


def test_run_with_an_unknown_command_is_a_clean_error(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_in(capfd, wheelhouse, "no-such-command-xyz")
    assert code == 127  # as a shell reports it
    assert "command not found: no-such-command-xyz" in err


def test_run_accepts_options_after_the_model(
    built: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capfd, "run", "m", "--python", XY, *idx(wheelhouse), "--", "python", "-c", "print(42)"
    )
    assert code == 0, err
    assert out.strip() == "42"
