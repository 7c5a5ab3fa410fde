"""`compiler.ray.runtime_env` and `modelenv export --ray`, without a cluster;
and `modelenv run --exec`, which the runtime_env's py_executable uses."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import ray as cray
from compiler.errors import ModelenvError, UsageError

from .conftest import run_cli, write_spec
from .test_materialise import SPEC, XY, idx, make_base

RAY_VERSION = pytest.importorskip("ray").__version__


@pytest.fixture()
def model(project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capsys, "lock", *idx(wheelhouse))
    assert code == 0, err
    return project


def test_runtime_env_starts_workers_through_modelenv_run(model: Path) -> None:
    env = cray.runtime_env("m")
    assert shlex.split(env["py_executable"]) == [
        "modelenv", "run", "--exec", "--share-venv", "m", "--python", XY, "--", "python"
    ]  # fmt: skip
    assert env["env_vars"] == {
        "MODELENV_SPECS": str(model / "specs"),
        "MODELENV_LOCKS": str(model / "locks"),
    }
    assert "working_dir" not in env


def test_runtime_env_options_reach_the_command_line(model: Path, tmp_path: Path) -> None:
    home = tmp_path / "shared home"
    env = cray.runtime_env(
        "m", engine="default", packages=["gamma==0.5.0"], home=home, launcher="/opt/me/modelenv"
    )
    assert shlex.split(env["py_executable"]) == [
        "/opt/me/modelenv", "run", "--exec", "--share-venv", "m", "--python", XY,
        "-p", "gamma==0.5.0", "--", "python",
    ]  # fmt: skip
    assert env["env_vars"]["MODELENV_HOME"] == str(home)


def test_runtime_env_refuses_a_package_url_with_credentials(model: Path) -> None:
    url = "gamma @ https://alice:s3cret@example.invalid/gamma-0.5.0-py3-none-any.whl"
    with pytest.raises(UsageError) as err:
        cray.runtime_env("m", packages=[url])
    assert "s3cret" not in str(err.value)
    assert str(err.value).splitlines()[0] == (
        "-p 'gamma @ https://alice:****@example.invalid/gamma-0.5.0-py3-none-any.whl' carries"
        " credentials, which a Ray worker's command line (py_executable) would show to every"
        " process listing"
    )


@pytest.mark.parametrize(
    ("launcher", "message"),
    [
        ("/opt/me 'modelenv", '--launcher "/opt/me \'modelenv": No closing quotation'),
        ("  ", "--launcher is empty: it must name how a node runs modelenv"),
    ],
)
def test_export_refuses_a_launcher_that_is_no_command(
    model: Path, capsys: pytest.CaptureFixture[str], launcher: str, message: str
) -> None:
    code, out, err = run_cli(capsys, "export", "m", "--ray", "--launcher", launcher)
    assert (code, out) == (2, "")
    assert f"modelenv: error: {message}" in err
    assert "internal error" not in err


def test_runtime_env_ships_specs_and_the_models_locks(model: Path, tmp_path: Path) -> None:
    write_spec(model, "other", SPEC)
    (model / "locks" / "other").mkdir()
    (model / "locks" / "other" / "x.txt").write_text("not shipped\n")
    env = cray.runtime_env("m", working_dir=True)
    folder = Path(env["working_dir"])
    assert env["env_vars"] == {"MODELENV_SPECS": "specs", "MODELENV_LOCKS": "locks"}
    shipped = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert shipped == [
        f"locks/m/default/py{XY}.txt",
        "specs/_engines.toml",
        "specs/m.toml",
        "specs/other.toml",
    ]
    assert (folder / "specs" / "m.toml").read_bytes() == (model / "specs" / "m.toml").read_bytes()
    # Named by content: the same inputs give the same folder.
    assert cray.runtime_env("m", working_dir=True)["working_dir"] == str(folder)


def test_runtime_env_ships_a_project_folder_holding_specs_and_locks(
    model: Path, tmp_path: Path
) -> None:
    env = cray.runtime_env("m", working_dir=model)
    assert env["working_dir"] == str(model)
    assert env["env_vars"] == {"MODELENV_SPECS": "specs", "MODELENV_LOCKS": "locks"}
    with pytest.raises(UsageError, match="does not hold the specs folder"):
        cray.runtime_env("m", working_dir=tmp_path / "elsewhere")


def test_runtime_env_refuses_another_python_than_the_drivers(model: Path) -> None:
    with pytest.raises(UsageError, match=r"Ray starts workers on the driver's Python"):
        cray.runtime_env("m", python="3.9")


def test_an_environment_without_system_site_packages_must_list_ray(model: Path) -> None:
    write_spec(model, "m", SPEC + "system_site_packages = false\n")
    with pytest.raises(ModelenvError) as info:
        cray.runtime_env("m")
    assert str(info.value) == (
        "m: its environment cannot import ray: specs/m.toml sets system_site_packages = false"
        " and does not list ray\n"
        f'  hint: add "ray=={RAY_VERSION}" to [env] packages in specs/m.toml,'
        " or set system_site_packages = true"
    )
    write_spec(
        model, "m", SPEC.replace('"beta"', '"beta", "ray"') + "system_site_packages = false\n"
    )
    assert cray.runtime_env("m")["py_executable"]


def test_a_lock_pinning_another_ray_is_refused(model: Path) -> None:
    write_spec(model, "m", SPEC.replace('"beta"', '"beta", "ray"'))
    lock = model / "locks" / "m" / "default" / f"py{XY}.txt"
    lock.write_text(lock.read_text() + "ray==1.0.0\n")
    with pytest.raises(
        ModelenvError, match=f"its lock pins ray 1.0.0, but this driver runs ray {RAY_VERSION}"
    ):
        cray.runtime_env("m")


def test_a_base_interpreter_without_ray_is_refused(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = make_base(tmp_path / "bare")
    monkeypatch.setenv("MODELENV_BASE_PYTHON", str(base))
    with pytest.raises(ModelenvError, match=r"the base interpreter \(.*bare.*\) has none"):
        cray.runtime_env("m")


def test_export_prints_the_runtime_env_as_json(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "export", "m", "--ray")
    assert code == 0, err
    assert json.loads(out) == cray.runtime_env("m")
    code, out, err = run_cli(capsys, "export", "m")
    assert code == 2 and out == ""
    assert "export needs a format: --ray" in err
    code, out, err = run_cli(capsys, "export", "m", "--ray", "--target", "t4")
    assert code == 2 and "t4" in err and out == ""


def test_run_exec_becomes_the_command(
    model: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker Ray starts is the environment's python itself, same process id:
    no modelenv parent stays behind (Ray signals the pid it started)."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    code = "import os, sys, beta; print(os.getpid(), sys.prefix, beta.__version__)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", "run", "--exec", "m", "--", "python", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    pid, prefix, version = out.split()
    assert int(pid) == proc.pid
    assert version == "2.0.0"
    lease = Path(prefix).with_name(f".{Path(prefix).name}.leases") / pid
    assert lease.is_file()  # taken by modelenv, held by the command it became


class _FakeRay:
    """The few calls on_every_node makes, for nodes that fail or never answer."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers  # node id -> (code, out, err), an exception, or None (no answer)
        self.cancelled: list[str] = []

    def nodes(self) -> list[dict[str, object]]:
        alive = [
            {"NodeID": nid, "NodeManagerAddress": "10.0.0.1", "Alive": True} for nid in self.answers
        ]
        return [*alive, {"NodeID": "f" * 56, "NodeManagerAddress": "10.0.0.9", "Alive": False}]

    def remote(self, **_options: object) -> object:
        class Remote:
            def __init__(self, node: str | None = None) -> None:
                self.node = node

            def options(self, scheduling_strategy: object) -> Remote:
                return Remote(scheduling_strategy.node_id)  # type: ignore[attr-defined]

            def remote(self, *_args: object) -> str:
                assert self.node is not None
                return self.node

        return lambda _fn: Remote()

    def wait(
        self, refs: list[str], num_returns: int, timeout: float
    ) -> tuple[list[str], list[str]]:
        assert num_returns == len(refs) and timeout > 0
        ready = [r for r in refs if self.answers[r] is not None]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref: str) -> object:
        answer = self.answers[ref]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def cancel(self, ref: str, force: bool) -> None:
        self.cancelled.append(ref)


def test_every_node_answers_or_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler import ray_nodes

    ok, broken, silent = "a" * 56, "b" * 56, "c" * 56
    fake = _FakeRay(
        {
            ok: (0, "out\n", ""),
            broken: RuntimeError("ModuleNotFoundError: No module named 'compiler'"),
            silent: None,
        }
    )
    monkeypatch.setattr(ray_nodes, "connect", lambda _address: fake)
    said: list[str] = []
    answers = ray_nodes.on_every_node(["list", "--json"], timeout=5, say=said.append)
    assert [(a.node, a.returncode, a.stdout, a.stderr) for a in answers] == [
        (f"10.0.0.1:{'a' * 8}", 0, "out\n", ""),
        (
            f"10.0.0.1:{'b' * 8}",
            1,
            "",
            "modelenv: error: ModuleNotFoundError: No module named 'compiler'\n",
        ),
        (f"10.0.0.1:{'c' * 8}", 1, "", "modelenv: error: the node did not answer\n"),
    ]
    assert fake.cancelled == [silent]
    assert said == ["asking 3 nodes (waiting at most 5 s)"]


def test_list_ray_without_ray_says_how_to_install_it(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, out, err = run_cli(capsys, "list", "--ray")
    assert code == 1 and out == ""
    assert "--ray needs ray, which is not installed" in err
    assert "pip install 'modelenv[ray]'" in err
