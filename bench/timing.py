"""Timing whole processes for the benchmarks: paired runs, medians, the machine.

A pair runs A then B (the order alternates from one pair to the next), so
that a machine whose speed drifts (other jobs, CPU frequency) moves both
alike; the ratio is taken pair by pair and its median reported. Each run's
wall time is a monotonic clock around the child, its CPU time the operating
system's accounting of the finished child (user + system).
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

Step = Callable[[], None]


@dataclass(frozen=True)
class Stats:
    wall: list[float]
    cpu: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def spread(self) -> str:
        """``median (min-max)`` of the wall times, in ms."""
        return f"{ms(self.median)} ({ms(min(self.wall))}-{ms(max(self.wall))})"

    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


@dataclass(frozen=True)
class Pair:
    a: Stats
    b: Stats
    ratios: list[float]  # A/B wall, pair by pair

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def cpu_ratio(self) -> float:
        return self.a.cpu_median() / self.b.cpu_median()


def ms(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def command(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> Step:
    """A step that runs ``argv`` and fails the benchmark when it fails."""

    def step() -> None:
        proc = subprocess.run(
            list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{proc.stderr}")

    return step


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(step: Step, setup: Step | None = None) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``step``; ``setup`` runs first, untimed."""
    if setup is not None:
        setup()
    cpu = _children_cpu()
    start = time.perf_counter()
    step()
    wall = time.perf_counter() - start
    return wall, _children_cpu() - cpu


def paired(
    a: Step,
    b: Step,
    runs: int,
    *,
    setup_a: Step | None = None,
    setup_b: Step | None = None,
    warmup: int = 1,
) -> Pair:
    for _ in range(warmup):
        measure(a, setup_a)
        measure(b, setup_b)
    wa, ca, wb, cb, ratios = [], [], [], [], []
    for i in range(runs):
        if i % 2 == 0:
            (w1, c1), (w2, c2) = measure(a, setup_a), measure(b, setup_b)
        else:
            (w2, c2), (w1, c1) = measure(b, setup_b), measure(a, setup_a)
        wa.append(w1)
        ca.append(c1)
        wb.append(w2)
        cb.append(c2)
        ratios.append(w1 / w2)
    return Pair(Stats(wa, ca), Stats(wb, cb), ratios)


def alone(step: Step, runs: int, *, setup: Step | None = None, warmup: int = 1) -> Stats:
    for _ in range(warmup):
        measure(step, setup)
    samples = [measure(step, setup) for _ in range(runs)]
    return Stats([w for w, _ in samples], [c for _, c in samples])


def who_is_faster(ratio: float) -> str:
    """A/B as words: who is faster, and by how much."""
    if ratio <= 1:
        return f"modelenv {1 / ratio:.2f}x faster"
    return f"modelenv {ratio:.2f}x the time"


def machine(uv_version: str) -> str:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.platform()}, {cpu or platform.processor()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}, uv {uv_version}; load average {load}"
    )
