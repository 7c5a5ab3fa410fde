"""Installing a lock into a new virtual environment: the install delta, the
uv invocation (what uv's cache and find-links hold first, without the index;
the index only for what they lack) and the closure check that refuses an
environment missing a dependency (uv's own, ``--strict``). The build-and-swap
around it is :mod:`compiler.building`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from . import uv
from .errors import ModelenvError
from .fsutil import temp_sibling
from .health import closure_problems
from .host import Interpreter
from .lockfile import parse_lock_body
from .plan import Plan
from .store import env_python
from .ui import REPORTING

__all__ = ["base_site_pth", "check_closure", "install_lock"]


def base_site_pth(env_path: Path, interp: Interpreter) -> None:
    """Make a virtual-environment base's own packages visible in the model env."""
    purelib = next(env_path.glob("lib/python*/site-packages"), None)
    if purelib is None:  # pragma: no cover - Windows layout
        purelib = env_path / "Lib" / "site-packages"
    (purelib / "_modelenv_base.pth").write_text(
        "".join(f"{p}\n" for p in interp.site_packages), encoding="utf-8"
    )


def install_lock(
    env_path: Path,
    lock_text: str,
    interp: Interpreter | None,
    *,
    skip_installed: bool,
    plan: Plan,
    offline: bool,
    say: Callable[[str], None],
) -> tuple[list[str], list[str], list[str] | None]:
    """Install the lock's packages the host does not provide: (installed,
    reused from the host, the problems uv's check found in what it installed
    — None when uv's messages went to the terminal and a separate check must ask)."""
    from .delta import Delta, install_delta
    from .lockfile import body_of

    assert interp is not None
    delta = install_delta(
        parse_lock_body(body_of(lock_text)),
        interp.packages if skip_installed else None,
        interp.markers,
    )
    todo = delta.install
    reported: list[str] | None = []  # nothing installed: nothing to object to
    unreachable = False
    if todo:
        # Written in the environment being built (gone with it if the build
        # fails), beside nothing uv installs, and removed once uv is done.
        with temp_sibling(env_path / "modelenv-requirements", suffix=".txt") as req:
            req.write_text("\n".join(p.text for p in todo) + "\n", encoding="utf-8")
            # Every file is pinned by its hash: where it comes from does not
            # matter. What uv already has (its cache, find-links folders) is
            # installed without asking the index, whose pages uv would first
            # revalidate once they are a few minutes old (a network round trip
            # per package, a wait when the index is unreachable); the index is
            # asked only when something is missing.
            result = _uv_install(env_path, req, plan, offline=True, live=offline)
            if not result.ok and not offline:
                local = result
                result = _uv_install(env_path, req, plan, offline=False)
                unreachable = _unreachable(result.stderr)
                if not result.ok and unreachable and _mismatch(local.stderr):
                    # The index could not be asked for the right file: what is
                    # wrong is the local one, not only the network.
                    result = local
                elif result.ok and _mismatch(local.stderr):
                    say(
                        "a file in find-links or uv's cache does not match the lock's"
                        " hash (tampered with, or rebuilt); installed from the index"
                    )
            elif result.ok and not offline and REPORTING.live:
                # Captured, in case it failed: what uv says of it is shown now.
                sys.stderr.write(result.stderr)
                sys.stderr.flush()
        if not result.ok:
            tampered = "hash" in result.stderr.lower()
            said = uv.without_progress(result.stderr).strip().splitlines()
            raise ModelenvError(
                f"installing {plan.spec.name} [{plan.engine_name}, py{plan.python}] failed:\n"
                + "\n".join(f"    {line}" for line in said),
                hint=(
                    "a hash mismatch means the lock or the index was tampered with;"
                    " 'modelenv lock' regenerates the lock"
                    if tampered
                    else "the package index is unreachable, and uv's cache and find-links"
                    " do not hold every file the lock names; check the network and the"
                    " index settings ('modelenv show')"
                    if unreachable
                    else "check the index settings with 'modelenv show'"
                    + (
                        "; --offline installs only from uv's cache and find-links"
                        if offline
                        else ""
                    )
                ),
            )
        live = result.stderr == uv.LIVE_STDERR
        reported = None if live else uv.strict_problems(result.stderr)
    return Delta.pins(delta.install), Delta.pins(delta.reuse), reported


def _uv_install(
    env_path: Path, req: Path, plan: Plan, *, offline: bool, live: bool = True
) -> uv.UvResult:
    args = uv.install_command(
        str(env_python(env_path)),
        str(req),
        index_args=plan.index.uv_args(),
        offline=offline,
        strict=True,
    )
    # On a terminal a large install shows uv's own progress (``live``); its
    # messages then went to the screen, so a failure is run once more,
    # captured, to be reported and judged (an unreachable index).
    result = uv.run(args, env=plan.index.uv_env(), live=live)
    if not result.ok and not result.stdout and result.stderr == uv.LIVE_STDERR:
        result = uv.run(args, env=plan.index.uv_env())
    return result


# uv's words for an index it could not reach (not for a package it lacks).
_UNREACHABLE = (
    "tcp connect error",
    "dns error",
    "failed to lookup address",
    "connection refused",
    "network is unreachable",
    "operation timed out",
)


def _unreachable(stderr: str) -> bool:
    text = stderr.lower()
    return "failed to fetch" in text and any(words in text for words in _UNREACHABLE)


def _mismatch(stderr: str) -> bool:
    """Does uv say that a file's hash is not the one the lock names?"""
    return "hash mismatch" in stderr.lower()


def check_closure(staging: Path, plan: Plan, reported: list[str] | None = None) -> None:
    """Refuse an environment whose packages miss a dependency: the lock that
    made it is incomplete, and the model would fail at import. ``reported``:
    the problems the install's own check found (None: run ``uv pip check``).

    What the host lends the environment is known from the base interpreter's
    probe (the environment sees the base's packages only through system
    site-packages): no second interpreter start to ask the new environment.
    """
    interp = plan.interpreter
    seen = None
    if interp is not None:
        lent = interp.packages if plan.spec.env.system_site_packages else {}
        seen = {
            "markers": dict(interp.markers),
            "packages": {name: [version, ""] for name, version in lent.items()},
        }
    problems = closure_problems(env_python(staging), seen, reported)
    if problems:
        label = f"{plan.spec.name} [{plan.engine_name}, py{plan.python}]"
        raise ModelenvError(
            f"{label}: the lock does not give every package what it requires:\n"
            + "\n".join(f"    {line}" for line in problems),
            hint="the previous environment, if any, is untouched; regenerate the lock:"
            f" modelenv lock {plan.spec.name} --engine {plan.engine_name} --python {plan.python}",
        )
