"""Store operations on every alive node of a Ray cluster (``list --ray``, ``gc --ray``).

One task per node, pinned to it (``NodeAffinitySchedulingStrategy``, not
soft), runs ``modelenv ARGS`` there with the node's own environment: its
``MODELENV_HOME`` (or ``~/.modelenv``), unless the driver names a home. The
answers come back as one list, a node label on each. ray is imported here
only, and only when a cluster is asked.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ModelenvError

__all__ = ["NodeAnswer", "connect", "on_every_node"]

# Bounds on the wait for the nodes: one slow or hung node must not hold the command.
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class NodeAnswer:
    node: str  # "ADDRESS:NODEID8"
    returncode: int
    stdout: str
    stderr: str


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ModelenvError(
            "--ray needs ray, which is not installed", hint="pip install 'modelenv[ray]'"
        ) from None
    return ray


def connect(address: str | None) -> Any:
    """The ray module, connected to the cluster at ``address`` (default: RAY_ADDRESS,
    else the local cluster's); a connection already made is reused."""
    ray = _import_ray()
    if not ray.is_initialized():
        try:
            ray.init(
                address=address or "auto",
                log_to_driver=False,
                logging_level="ERROR",
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ModelenvError(
                f"cannot connect to the Ray cluster at {address or 'auto'}: {exc}",
                hint="start one with 'ray start --head', or pass --ray ADDRESS",
            ) from None
    return ray


def _run_here(argv: list[str], timeout: float) -> tuple[int, str, str]:
    """Runs on the node: modelenv with this node's interpreter and environment."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "compiler", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 1, "", f"modelenv: error: no answer in {timeout:.0f} s\n"
    return proc.returncode, proc.stdout, proc.stderr


def on_every_node(
    argv: Sequence[str],
    *,
    address: str | None = None,
    timeout: float = TIMEOUT_S,
    say: Callable[[str], None] = lambda _text: None,
) -> list[NodeAnswer]:
    """``modelenv ARGV`` run once on every alive node; answers sorted by node."""
    ray = connect(address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if not nodes:
        raise ModelenvError("the Ray cluster has no alive node")
    remote = ray.remote(num_cpus=0, max_retries=0)(_run_here)
    pending = {}
    for node in nodes:
        label = f"{node.get('NodeManagerAddress', '?')}:{node['NodeID'][:8]}"
        strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
        ref = remote.options(scheduling_strategy=strategy).remote(list(argv), timeout)
        pending[label] = ref
    say(f"asking {len(pending)} nodes (waiting at most {timeout:.0f} s)")
    refs = list(pending.values())
    # The task itself stops at ``timeout``; the margin covers starting a worker.
    ready, _late = ray.wait(refs, num_returns=len(refs), timeout=timeout + 60)
    answers: list[NodeAnswer] = []
    for label, ref in sorted(pending.items()):
        if ref not in ready:
            ray.cancel(ref, force=True)
            answers.append(NodeAnswer(label, 1, "", "modelenv: error: the node did not answer\n"))
            continue
        try:
            code, out, err = ray.get(ref)
        except Exception as exc:  # a node without modelenv, a dead worker: say which
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            answers.append(NodeAnswer(label, 1, "", f"modelenv: error: {first}\n"))
            continue
        answers.append(NodeAnswer(label, code, out, err))
    return answers
