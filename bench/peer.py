"""modelenv against the launch code model servers use today: Xinference's
worker building its per-model environment with xoscar's uv virtual-env manager.

    make bench-peer        # needs the network (PyPI); not part of make test

A throwaway "worker" virtual environment gets xoscar (pinned below) and
filelock. A fresh process then does what the worker does at each launch: take
a per-environment file lock, ``create_env(python_path=sys.executable)``
(``uv venv --system-site-packages``, skipped when it exists),
``install_packages(packages, skip_installed=True)`` (uv's dry-run resolution,
then an install of what the worker lacks), and write a setup-done marker. The
same package set (the ``minilm-onnx`` spec) goes through ``modelenv create``
with that worker venv as base interpreter, and through plain
``uv venv`` + ``uv pip sync LOCK``. The worker holds numpy already, so the
skip-installed counts show who reuses it. Writes a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import results  # noqa: E402
from launch import child_env, modelenv_argv  # noqa: E402
from timing import alone, command, machine, paired, who_is_faster  # noqa: E402

XOSCAR = "xoscar==0.12.2"
MODEL = "minilm-onnx"
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"

_WORKER = """\
import json, sys, time
from pathlib import Path
from filelock import FileLock
from xoscar.virtualenv import get_virtual_env_manager

env_path, packages, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
samples = []
for _ in range(repeat):
    start = time.perf_counter()
    with FileLock(env_path + ".lock"):
        manager = get_virtual_env_manager("uv", env_path)
        manager.create_env(python_path=Path(sys.executable))
        manager.install_packages(packages, skip_installed=True)
        (Path(env_path) / ".setup-done").touch()
    samples.append(time.perf_counter() - start)
print(json.dumps(samples))
"""


def _uv() -> str:
    sys.path.insert(0, str(REPO))
    from compiler.uv import uv_binary, uv_version

    global UV_VERSION
    UV_VERSION = uv_version()
    return uv_binary()


UV_VERSION = ""


def sh(argv: list[str], **kw: object) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise SystemExit(f"bench-peer step failed: {' '.join(argv)}\n{proc.stderr}")
    return str(proc.stdout)


def spec_packages() -> list[str]:
    import tomllib

    data = tomllib.loads((REPO / "specs" / f"{MODEL}.toml").read_text())
    # Xinference writes "#system_numpy#" too; its worker turns it into a plain name.
    return [p.replace("#system_", "").rstrip("#") for p in data["env"]["packages"]]


def site_count(env: Path) -> int:
    found = list(env.glob("lib/python*/site-packages/*.dist-info"))
    return len(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="pairs of up-to-date launches")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    opts = parser.parse_args()
    uv = _uv()
    tmp = Path(tempfile.mkdtemp(prefix="modelenv-peer-"))
    env = child_env()
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        MODELENV_HOME=str(tmp / "home"),
        XOSCAR_UV_PATH=uv,
    )
    for var in [v for v in env if v.startswith(("PIP_INDEX", "PIP_EXTRA", "PIP_FIND", "UV_INDEX"))]:
        del env[var]
    base = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    worker = tmp / "worker-venv"
    worker_py = str(worker / "bin" / "python")
    sh([uv, "venv", "--quiet", "--python", base, str(worker)], env=env)
    lock = REPO / "locks" / MODEL / "default" / f"py{PY}.txt"
    numpy = next(
        "numpy==" + line.split("==")[1].split()[0].rstrip("\\").strip()
        for line in lock.read_text().splitlines()
        if line.startswith("numpy==")
    )
    sh(
        [uv, "pip", "install", "--quiet", "--python", worker_py, XOSCAR, "filelock", numpy],
        env=env,
    )
    versions = json.loads(
        sh(
            [
                worker_py,
                "-c",
                "import json; from importlib.metadata import version as v;"
                " print(json.dumps({n: v(n) for n in ('xoscar', 'filelock', 'numpy')}))",
            ],
            env=env,
        )
    )
    packages = spec_packages()
    xo_env = tmp / "xinference" / "virtualenv" / "v4" / MODEL / "default" / PY
    xo_env.parent.mkdir(parents=True)

    worker_argv = [worker_py, "-c", _WORKER, str(xo_env), json.dumps(packages)]

    def xoscar(repeat: int = 1) -> list[float]:
        return [float(x) for x in json.loads(sh([*worker_argv, str(repeat)], env=env))]

    project = tmp / "project"
    shutil.copytree(REPO / "specs", project / "specs")
    shutil.copytree(REPO / "locks", project / "locks")
    me = [*modelenv_argv(), "create", MODEL, "--base-python", worker_py]
    plain = tmp / "plain"

    def drop_xo() -> None:
        shutil.rmtree(xo_env, ignore_errors=True)

    def drop_me() -> None:
        sh([*modelenv_argv(), "remove", MODEL], cwd=project, env=env)

    def drop_plain() -> None:
        shutil.rmtree(plain, ignore_errors=True)

    def plain_uv() -> None:
        sh([uv, "venv", "--quiet", "--python", base, str(plain)], env=env)
        sh(
            [uv, "pip", "sync", "--quiet", "--python", str(plain / "bin/python"), str(lock)],
            env=env,
        )

    # Warm uv's cache for every party, then build each once.
    xoscar()
    sh(me, cwd=project, env=env)
    plain_uv()
    create_me = command(me, cwd=project, env=env)
    xo_step = command([*worker_argv, "1"], env=env)
    cold_runs = 3
    cold = paired(create_me, xo_step, cold_runs, setup_a=drop_me, setup_b=drop_xo, warmup=0)
    cold_uv = alone(plain_uv, cold_runs, setup=drop_plain, warmup=0)
    warm = paired(create_me, xo_step, opts.runs)
    in_process = xoscar(repeat=20)
    ensure = sh(
        [
            sys.executable,
            "-c",
            "import os, statistics, sys, time, compiler\n"
            f"kw = dict(base_python={worker_py!r})\n"
            f"compiler.ensure_env({MODEL!r}, **kw)\n"
            "s = []\n"
            "for _ in range(200):\n"
            "    t = time.perf_counter(); compiler.ensure_env(" + repr(MODEL) + ", **kw)\n"
            "    s.append(time.perf_counter() - t)\n"
            "print(statistics.median(s))\n",
        ],
        cwd=project,
        env=env,
    )
    record = json.loads(
        next(
            (tmp / "home").glob(f"virtualenv/v4/{MODEL}/default/*/modelenv-record.json")
        ).read_text()
    )
    import statistics

    xo_med = statistics.median(in_process[1:])
    lines = [
        "## Against Xinference's launch code (xoscar)",
        "",
        f"Machine: {machine(UV_VERSION)}. xoscar {versions['xoscar']}, filelock"
        f" {versions['filelock']}; the worker venv holds numpy {versions['numpy']}.",
        f"Package set: the `{MODEL}` spec ({', '.join(packages)}), Python {PY}, PyPI, warm uv"
        " cache. The worker's steps, each launch in a fresh process: file lock,"
        " `create_env(python_path=sys.executable)`, `install_packages(..., skip_installed=True)`,"
        " a setup-done marker. Regenerate with `make bench-peer` (needs the network).",
        "",
        "| launch | modelenv | Xinference's steps (xoscar) | ratio |",
        "| --- | --- | --- | --- |",
        f"| cold create, whole process (median of {cold_runs}) | {cold.a.spread()} |"
        f" {cold.b.spread()} | {cold.ratio:.2f} ({who_is_faster(cold.ratio)}) |",
        f"| plain `uv venv` + `uv pip sync LOCK`, for reference | - | {cold_uv.spread()} | - |",
        f"| up to date, fresh process (`modelenv create`; {opts.runs} pairs) | {warm.a.spread()} |"
        f" {warm.b.spread()} | {warm.ratio:.2f} ({who_is_faster(warm.ratio)}) |",
        f"| up to date, in-process (`ensure_env()` vs the worker's steps again) |"
        f" {float(ensure) * 1000:.2f} ms | {xo_med * 1000:.0f} ms |"
        f" {float(ensure) / xo_med:.4f} |",
        f"| packages installed into the environment / reused from the worker |"
        f" {len(record['installed'])} / {len(record['reused'])} |"
        f" {site_count(xo_env)} dist-info folders in the environment | - |",
        "",
    ]
    results.update(Path(opts.out), "## Against Xinference's launch code (xoscar)", "\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
