"""A real local Ray cluster: two nodes on this machine, started and stopped here.

On one machine the nodes share a filesystem. Each node is given its own
modelenv home (and its own log of uv calls) through the environment its
processes start with: ``MODELENV_HOME`` is set while that node's raylet is
spawned, and the workers it starts inherit it. The specs and locks are shared,
as the runtime_env's ``env_vars`` point every node at the same folders. Ray's
own files go to a short temporary folder (``RAY_TMPDIR``), never /tmp/ray or
the real home.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from uv import find_uv_bin

from compiler import ray as cray

from .conftest import run_cli, write_spec
from .test_materialise import XY, idx
from .wheels import make_wheel

ray = pytest.importorskip("ray")
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

pytestmark = pytest.mark.ray  # one worker runs the module: conftest.TOGETHER
# Workers cannot import this test module: ship its functions and classes by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

# Every wait on the cluster is bounded: a hung worker fails the test, it does not hang it.
WAIT_S = 180
CPUS = 2  # a node's

UV_WRAPPER = """#!/bin/sh
printf '%s\\n' "$*" >> "$MODELENV_TEST_UV_LOG"
exec {uv} "$@"
"""


@dataclass(frozen=True)
class Node:
    id: str
    address: str
    home: Path
    uv_log: Path

    def uv_calls(self) -> list[str]:
        try:
            return self.uv_log.read_text().splitlines()
        except FileNotFoundError:
            return []

    def venv_builds(self, model: str) -> int:
        return sum(1 for c in self.uv_calls() if c.startswith("venv ") and f"/v4/{model}/" in c)


@dataclass(frozen=True)
class Cluster:
    nodes: dict[str, Node]  # by node id
    wheelhouse: Path

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """os.environ replaced by ``values`` for the block: a raylet keeps the
    environment it was spawned with, and hands it to its workers."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _node_environment(base: Path, wheelhouse: Path, wrapper: Path, ray_tmp: str) -> dict[str, str]:
    """What conftest's isolation does for a test, for processes outliving it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "MODELENV_", "VIRTUAL_ENV", "CONDA_", "RAY_"))
    }
    fake_home = base / "home"
    fake_home.mkdir(exist_ok=True)
    env.update(
        HOME=str(fake_home),
        XDG_CONFIG_HOME=str(fake_home / ".config"),
        XDG_CACHE_HOME=str(fake_home / ".cache"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheelhouse),
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(base / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        MODELENV_UV=str(wrapper),
        # The default launcher is 'modelenv' on the worker's PATH.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        RAY_TMPDIR=ray_tmp,
        RAY_USAGE_STATS_ENABLED="0",
        # Every Ray worker costs an import of ray (about 1 s of CPU): none started
        # idle for the first driver (Ray's default, one a CPU).
        RAY_prestart_worker_first_driver="0",
        # Ray renices its workers to 15 once they run: beside the busy processes
        # of the same session (other test workers) they would get almost no CPU.
        RAY_worker_niceness="0",
        # No metrics and no task events: only the dashboard and the state API
        # read them, and no test does.
        RAY_enable_metrics_collection="0",
        RAY_task_events_report_interval_ms="0",
        # A node or driver that cannot reach the GCS gives up instead of hanging.
        RAY_gcs_rpc_server_connect_timeout_s="30",
    )
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from ray.cluster_utils import Cluster as RayCluster

    base = tmp_path_factory.mktemp("ray-cluster")
    wheelhouse = base / "wheelhouse"
    make_wheel(wheelhouse, "alpha", "1.0.0")
    make_wheel(wheelhouse, "alpha", "2.0.0")
    wrapper = base / "uv-wrapper.sh"
    wrapper.write_text(UV_WRAPPER.format(uv=find_uv_bin()))
    wrapper.chmod(0o755)
    # Unix socket paths are limited to 107 bytes: a short folder, removed at the end.
    ray_tmp = tempfile.mkdtemp(prefix="mr", dir="/tmp")
    common = _node_environment(base, wheelhouse, wrapper, ray_tmp)
    node_args: dict[str, Any] = {
        "num_cpus": CPUS,
        "object_store_memory": 80 * 1024 * 1024,
        "include_dashboard": False,
    }
    # The head runs no autoscaler monitor and no log monitor (the driver does
    # not print the workers' output).
    head_args = {**node_args, "no_monitor": True, "include_log_monitor": False}
    homes: dict[str, tuple[Path, Path]] = {}  # by node id

    def per_node(i: int) -> tuple[dict[str, str], Path, Path]:
        home, log = base / f"node{i}" / "modelenv-home", base / f"node{i}" / "uv-calls.log"
        home.mkdir(parents=True)
        return {**common, "MODELENV_HOME": str(home), "MODELENV_TEST_UV_LOG": str(log)}, home, log

    rc = None
    try:
        env, home, log = per_node(0)
        with _environ(env):
            rc = RayCluster(initialize_head=True, head_node_args=head_args)
        homes[rc.head_node.node_id] = home, log
        env, home, log = per_node(1)
        with _environ(env):
            homes[rc.add_node(**node_args).node_id] = home, log
        with _environ(common):
            ray.init(address=rc.address, log_to_driver=False)
        alive = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
        # Which node is which: the ids the nodes were started with.
        assert set(alive) == set(homes), ray.nodes()
        nodes = {i: Node(i, alive[i], *homes[i]) for i in alive}
        yield Cluster(nodes, wheelhouse)
    finally:
        with _environ(common):  # not the real home, even while stopping
            ray.shutdown()
            if rc is not None:
                rc.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _pinned(node_id: str) -> dict[str, Any]:
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)}


@ray.remote(num_cpus=1)
def probe(together: tuple[str, int] | None = None) -> dict[str, Any]:
    """What a worker sees: its node, its interpreter and the locked package.

    ``together`` = (folder, n): the task leaves its worker's pid in the
    (shared) folder and returns once n workers have: n workers ran at once."""
    import alpha

    if together is not None:
        folder, n = together
        Path(folder, str(os.getpid())).touch()
        deadline = time.monotonic() + WAIT_S
        while len(os.listdir(folder)) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{os.listdir(folder)} of {n} workers in {WAIT_S} s")
            time.sleep(0.05)
    return {
        "node": ray.get_runtime_context().get_node_id(),
        "pid": os.getpid(),
        "prefix": sys.prefix,
        "alpha": alpha.__version__,
        "home": os.environ["MODELENV_HOME"],
    }


@ray.remote(max_restarts=1, max_task_retries=-1, num_cpus=0)
class Probe:
    def info(self) -> dict[str, Any]:
        import alpha

        return {"pid": os.getpid(), "prefix": sys.prefix, "alpha": alpha.__version__}

    @ray.method(max_task_retries=0)
    def kill(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture()
def models(
    cluster: Cluster,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> dict[str, dict[str, Any]]:
    """Two models pinning different versions of alpha, locked; their runtime_envs.

    The node homes live as long as the cluster: each test names its models
    after itself, so that it starts from no environment."""
    envs = {}
    tag = request.node.name.removeprefix("test_")[:24].rstrip("_").replace("_", "-")
    for key, pin in (("pin-one", "alpha==1.0.0"), ("pin-two", "alpha==2.0.0")):
        name = f"{key}-{tag}"
        write_spec(project, name, f'[env]\npython = ["{XY}"]\npackages = ["{pin}"]\n')
        envs[key] = name
    code, _out, err = run_cli(capsys, "lock", *idx(cluster.wheelhouse))
    assert code == 0, err
    return {key: {"name": name, **cray.runtime_env(name)} for key, name in envs.items()}


def _env(model: dict[str, Any], **extra_vars: str) -> dict[str, Any]:
    """The runtime_env (without the test's "name" key), with extra env_vars."""
    env = {k: v for k, v in model.items() if k != "name"}
    env["env_vars"] = {**env["env_vars"], **extra_vars}
    return env


def _run(refs: list[Any]) -> list[dict[str, Any]]:
    return list(ray.get(refs, timeout=WAIT_S))


def test_sixteen_tasks_import_the_locked_version_from_their_nodes_environment(
    cluster: Cluster, models: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    one, two = models["pin-one"], models["pin-two"]
    spread = {"scheduling_strategy": "SPREAD"}
    # The first tasks wait for each other: every CPU of the cluster runs a worker
    # of this environment at once, so each node starts CPUS of them together.
    (tmp_path / "together").mkdir()
    together = (str(tmp_path / "together"), CPUS * len(cluster.nodes))
    refs_one = [probe.options(runtime_env=_env(one), **spread).remote(together) for _ in range(16)]
    refs_two = [probe.options(runtime_env=_env(two), **spread).remote()]
    results_one, results_two = _run(refs_one), _run(refs_two)

    assert {r["alpha"] for r in results_one} == {"1.0.0"}
    assert {r["alpha"] for r in results_two} == {"2.0.0"}  # side by side, in the same job
    for node_id in cluster.nodes:
        assert len({r["pid"] for r in results_one if r["node"] == node_id}) >= CPUS
    for model, results in ((one["name"], results_one), (two["name"], results_two)):
        for r in results:
            node = cluster.node(r["node"])
            # The worker's interpreter is the environment in its own node's home.
            assert Path(r["prefix"]).parent.parent == node.home / "virtualenv" / "v4" / model
            assert r["home"] == str(node.home)
    for node in cluster.nodes.values():
        # However many workers started at once, each node built the environment once.
        assert node.venv_builds(one["name"]) == 1, node.uv_calls()
        assert node.venv_builds(two["name"]) <= 1, node.uv_calls()


def test_an_up_to_date_node_starts_its_workers_without_uv(
    cluster: Cluster, models: dict[str, dict[str, Any]]
) -> None:
    ids = sorted(cluster.nodes)
    one = models["pin-one"]
    first = _run([probe.options(runtime_env=_env(one), **_pinned(i)).remote() for i in ids])
    calls = {i: cluster.node(i).uv_calls() for i in ids}
    # Another runtime_env for the same model: Ray starts new workers for it.
    fresh = _env(one, FRESH="1")
    again = _run([probe.options(runtime_env=fresh, **_pinned(i)).remote() for i in ids])

    assert not {r["pid"] for r in again} & {r["pid"] for r in first}  # new workers
    assert [r["prefix"] for r in again] == [r["prefix"] for r in first]
    assert {r["alpha"] for r in again} == {"1.0.0"}
    assert {i: cluster.node(i).uv_calls() for i in ids} == calls  # no uv at all


def test_list_ray_shows_every_nodes_environments(
    cluster: Cluster, models: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    two = models["pin-two"]
    _run([probe.options(runtime_env=_env(two), **_pinned(i)).remote() for i in cluster.nodes])
    code, out, err = run_cli(capsys, "list", "--ray")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["NODE", "MODEL", "ENGINE"]
    for node in cluster.nodes.values():
        mine = [ln.split() for ln in lines if ln.startswith(f"{node.address}:{node.id[:8]}")]
        assert [r[1] for r in mine if str(node.home) in r[-1]].count(two["name"]) == 1, out
    assert "2 nodes" in err
    code, out, err = run_cli(capsys, "list", "--ray", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema_version"] == 1
    by_node = {n["node"]: n for n in doc["nodes"]}
    assert set(by_node) == {f"{n.address}:{n.id[:8]}" for n in cluster.nodes.values()}
    for node in cluster.nodes.values():
        mine = by_node[f"{node.address}:{node.id[:8]}"]
        assert mine["home"] == str(node.home)
        assert two["name"] in [e["model"] for e in mine["environments"]]

    # gc on every node, against that node's own home; the environment this
    # test's workers still run in is leased by them, so it stays.
    code, out, err = run_cli(capsys, "gc", "--ray", "--dry-run", "--max-size", "0")
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0].split() == ["NODE", "RESULT"]
    for node in cluster.nodes.values():
        mine = [ln for ln in rows if ln.startswith(f"{node.address}:{node.id[:8]}")]
        assert any("would remove" in ln and "would free" in ln for ln in mine), out
        paths = [w for ln in mine for w in ln.split() if w.startswith("/")]
        assert paths and all(p.startswith(str(node.home)) for p in paths), out
        assert not any(two["name"] in ln and "would remove" in ln for ln in mine), out


def test_a_restarted_actor_gets_the_same_environment(
    cluster: Cluster, models: dict[str, dict[str, Any]]
) -> None:
    node_id = sorted(cluster.nodes)[0]
    actor = Probe.options(runtime_env=_env(models["pin-two"]), **_pinned(node_id)).remote()
    before = ray.get(actor.info.remote(), timeout=WAIT_S)
    calls = cluster.node(node_id).uv_calls()
    # Killed with SIGKILL, from inside so that it is dead before the next call is sent.
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.kill.remote(), timeout=WAIT_S)
    after = ray.get(actor.info.remote(), timeout=WAIT_S)  # after Ray restarted it

    assert after["pid"] != before["pid"]
    assert after["prefix"] == before["prefix"]
    assert after["alpha"] == before["alpha"] == "2.0.0"
    assert cluster.node(node_id).uv_calls() == calls  # the node's environment, as it was


# A second driver: Ray uploads a local working_dir only for a whole job (ray.init
# or ray job submit), never for one task.
JOB = """
import json, os, sys
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

@ray.remote(num_cpus=1)
def where():
    import alpha
    return {"alpha": alpha.__version__, "specs": os.environ["MODELENV_SPECS"],
            "shipped": sorted(os.listdir("specs")), "locks": sorted(os.listdir("locks"))}

address, env, nodes = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
ray.init(address=address, runtime_env=env, log_to_driver=False)
refs = [where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
        for n in nodes]
print(json.dumps(ray.get(refs, timeout=180)))
"""


def test_a_job_ships_the_specs_and_locks_to_its_nodes(
    cluster: Cluster, models: dict[str, dict[str, Any]], project: Path
) -> None:
    name = models["pin-one"]["name"]
    env = cray.runtime_env(name, working_dir=True)
    assert env["env_vars"]["MODELENV_SPECS"] == "specs"
    # The nodes can no longer read the project: only the job's copy remains.
    shutil.rmtree(project / "locks")
    shutil.rmtree(project / "specs")
    address = ray.get_runtime_context().gcs_address
    proc = subprocess.run(
        [sys.executable, "-c", JOB, address, json.dumps(env), *cluster.nodes],
        capture_output=True,
        text=True,
        timeout=WAIT_S + 60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {r["alpha"] for r in seen} == {"1.0.0"}
    for r in seen:
        assert r["specs"] == "specs"
        assert f"{name}.toml" in r["shipped"] and "_engines.toml" in r["shipped"]
        assert r["locks"] == [name]
