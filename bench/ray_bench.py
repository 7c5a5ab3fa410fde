"""Ray: the start of 16 tasks with modelenv's runtime_env against Ray's own ``uv`` one.

    .venv/bin/python bench/ray_bench.py [--runs N] [--out bench/RESULTS.md]

A local Ray cluster of two nodes (2 CPUs each, on this machine), three tiny
wheels from a local wheelhouse (no network), uv's cache warm for both sides.
Each measurement submits 16 tasks that import the packages and waits for all
of them:

- cold: the environment does not exist yet on any node (modelenv: a model
  never built; Ray: a uv config it has not seen, through a fresh copy of the
  wheelhouse);
- warm: the environment exists, but Ray must start new workers (a new
  ``env_vars`` value makes a new runtime_env);
- Ray alone: new workers with no environment at all, the floor both pay.

Writes its own section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import results  # noqa: E402

from compiler import ray as cray  # noqa: E402
from tests.wheels import make_wheel  # noqa: E402

HEADING = "## Ray: 16 tasks on a local two-node cluster"
TASKS = 16
PACKAGES = ["alpha==1.0.0", "beta==2.0.0", "gamma==0.5.0"]
WAIT_S = 600


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """os.environ replaced for the block: a raylet keeps the environment it was spawned with."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def isolated(base: Path, ray_tmp: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "MODELENV_", "VIRTUAL_ENV", "CONDA_", "RAY_"))
    }
    env.update(
        HOME=str(base / "home"),
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(base / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(base / "wheelhouse"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        RAY_TMPDIR=ray_tmp,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_gcs_rpc_server_connect_timeout_s="30",
    )
    return env


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fmt(seconds: float) -> str:
    return f"{seconds:.2f} s"


def ratio(ours: float, theirs: float) -> str:
    if ours <= theirs:
        return f"modelenv {theirs / ours:.1f}x faster"
    return f"Ray's uv {ours / theirs:.1f}x faster"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measurements per case (median)")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    base = Path(tempfile.mkdtemp(prefix="modelenv-ray-bench-"))
    # Short: Unix socket paths hold 107 bytes at most. The second node has its own.
    ray_tmp = tempfile.mkdtemp(prefix="mrb", dir="/tmp")
    ray_tmp1 = tempfile.mkdtemp(prefix="mrb", dir="/tmp")
    (base / "home").mkdir()
    wheelhouse = base / "wheelhouse"
    make_wheel(wheelhouse, "alpha", "1.0.0")
    make_wheel(wheelhouse, "beta", "2.0.0", requires=["alpha>=1.0"])
    make_wheel(wheelhouse, "gamma", "0.5.0")
    project = base / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "_engines.toml").write_text("")
    xy = f"{sys.version_info[0]}.{sys.version_info[1]}"
    names = [f"bench-{i}" for i in range(args.runs)]
    for name in names:
        spec = f'[model]\nname = "{name}"\n\n[env]\npython = ["{xy}"]\n'
        (project / "specs" / f"{name}.toml").write_text(
            spec + f"packages = {json.dumps(PACKAGES)}\n"
        )
    common = isolated(base, ray_tmp)
    # Locking is done once, in CI, before any cluster starts: not timed.
    subprocess.run(
        [sys.executable, "-m", "compiler", "lock", "--no-index", "--find-links", str(wheelhouse)],
        cwd=project,
        env=common,
        check=True,
        capture_output=True,
    )
    node_args: dict[str, Any] = {
        "num_cpus": 2,
        "object_store_memory": 80 * 1024 * 1024,
        "include_dashboard": False,
    }
    cluster = None
    try:
        with environ({**common, "MODELENV_HOME": str(base / "node0")}):
            cluster = Cluster(initialize_head=True, head_node_args=node_args)
        with environ({**common, "MODELENV_HOME": str(base / "node1")}):
            # Its own Ray folder: Ray's uv plugin builds in the node's runtime_resources,
            # which two nodes of one machine would otherwise share (and race on).
            cluster.add_node(**node_args, temp_dir=ray_tmp1)
        with environ(common):
            ray.init(address=cluster.address, log_to_driver=False)
            envs = {
                n: cray.runtime_env(n, specs=project / "specs", locks=project / "locks")
                for n in names
            }

        @ray.remote(num_cpus=1)
        def task() -> str:
            import alpha
            import beta
            import gamma

            return f"{alpha.__version__} {beta.__version__} {gamma.__version__}"

        def start(runtime_env: dict[str, Any]) -> None:
            refs = [task.options(runtime_env=runtime_env).remote() for _ in range(TASKS)]
            got = set(ray.get(refs, timeout=WAIT_S))
            assert got == {"1.0.0 2.0.0 0.5.0"}, got

        @ray.remote(num_cpus=1)
        def bare() -> int:
            return os.getpid()

        def start_bare(tag: str) -> None:
            env = {"env_vars": {"BENCH_RUN": tag}}
            ray.get([bare.options(runtime_env=env).remote() for _ in range(TASKS)], timeout=WAIT_S)

        start_bare("warm-up")  # the cluster's own first start is not measured
        times: dict[str, list[float]] = {
            k: [] for k in ("floor", "me-cold", "me-warm", "uv-cold", "uv-warm")
        }
        for i, name in enumerate(names):
            times["floor"].append(timed(lambda i=i: start_bare(f"floor-{i}")))
            mine = envs[name]
            times["me-cold"].append(timed(lambda mine=mine: start(mine)))
            warm = {**mine, "env_vars": {**mine["env_vars"], "BENCH_RUN": f"warm-{i}"}}
            times["me-warm"].append(timed(lambda warm=warm: start(warm)))
            # A fresh copy of the wheelhouse: a uv config Ray has not seen, so a new env.
            copy = base / f"wheelhouse-{i}"
            shutil.copytree(wheelhouse, copy)
            uv_env: dict[str, Any] = {
                "uv": {
                    "packages": PACKAGES,
                    "uv_pip_install_options": ["--no-index", "--find-links", str(copy)],
                }
            }
            times["uv-cold"].append(timed(lambda uv_env=uv_env: start(uv_env)))
            uv_warm = {**uv_env, "env_vars": {"BENCH_RUN": f"uv-warm-{i}"}}
            times["uv-warm"].append(timed(lambda uv_warm=uv_warm: start(uv_warm)))
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)
        shutil.rmtree(ray_tmp1, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [
        ("cold (environment built on each node)", med["me-cold"], med["uv-cold"]),
        ("warm (environment up to date, new workers)", med["me-warm"], med["uv-warm"]),
    ]
    table = "".join(
        f"| {what} | {fmt(me)} | {fmt(uv)} | {ratio(me, uv)} |\n" for what, me, uv in rows
    )
    floor = fmt(med["floor"])
    section = (
        f"{HEADING}\n\n"
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}, ray {ray.__version__}."
        f" Medians of {args.runs} runs.\n"
        f"Two Ray nodes on this machine (2 CPUs each), {TASKS} tasks importing three tiny"
        " wheels from a local wheelhouse (uv's cache warm); regenerate with"
        " `.venv/bin/python bench/ray_bench.py`.\n"
        "Cold: no node has the environment yet. Warm: it exists; Ray starts new workers"
        " for it. Ray's uv runtime_env clones the virtualenv Ray runs in, then installs.\n\n"
        f"| start of {TASKS} tasks | modelenv runtime_env | Ray `uv` runtime_env | ratio |\n"
        "| --- | --- | --- | --- |\n"
        f"{table}"
        f"| Ray alone (new workers, no environment) | {floor} | {floor} | - |\n"
    )
    results.update(Path(args.out), HEADING, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
