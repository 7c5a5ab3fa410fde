"""What a user asks for: a model, an engine, a Python version and overrides.

Light on purpose (no pydantic): ``ensure_env`` builds one on the launch path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import indexes
from .errors import UsageError
from .launch import name_ok, python_shape_ok

TYPE_CHECKING = False  # not typing's: the launch path does not import typing
if TYPE_CHECKING:
    import argparse

__all__ = ["Request", "add_index_options", "add_request_options", "request_from_args"]


def check_request(
    model: str, engine: str | None, python: str | None, packages: object = ()
) -> None:
    """Refuse names that could leave the specs folder or the home, and Python
    versions that are not X.Y, before anything touches the disk (the launch
    path calls this too, so it stays light)."""
    for what, value in (("model", model), ("engine", engine)):
        if value is not None and not name_ok(value):
            raise UsageError(
                f"invalid {what} name {value!r}: letters, digits, '.', '_' and '-' only"
                " (no path separators or '..'), 128 at most"
            )
    if python is not None and not python_shape_ok(python):
        raise UsageError(f"invalid Python version {python!r}: expected X.Y, for example 3.11")
    if python is not None and int(python.split(".")[1]) < 8:
        raise UsageError(f"unsupported Python version {python!r}: modelenv needs 3.8 or newer")
    if isinstance(packages, str):
        raise UsageError("packages must be a list of requirements, not one string")


@dataclass(frozen=True)
class Request:
    model: str
    engine: str | None = None
    python: str | None = None
    packages: tuple[str, ...] = ()
    overrides: Path | None = None
    use_overrides: bool = True
    base_python: str | None = None
    # The command line layers environments on the interpreter beneath its own
    # venv; ensure_env() on the calling interpreter (see host.find_interpreter).
    base_beneath_venv: bool = False
    strict_system: bool = False
    index: indexes.IndexSettings = field(default_factory=indexes.IndexSettings)
    # [tool.modelenv] index settings: below the environment's (project.py).
    project_index: indexes.IndexSettings = field(default_factory=indexes.IndexSettings)
    # A target (specs/_targets/NAME.toml): the plan is for that host, not this one.
    target: str | None = None


def add_request_options(parser: argparse.ArgumentParser, *, overrides: bool = True) -> None:
    """The options that shape a request, shared by show, lock, create and run."""
    add = parser.add_argument
    add("--engine", metavar="E", help="engine variant (default: the engine-less default)")
    add("--python", metavar="X.Y", help="Python version (default: this one if the spec lists it)")
    if overrides:
        add(
            "-p",
            "--package",
            dest="packages",
            action="append",
            default=[],
            metavar="REQ",
            help="override a requirement; '!NAME' removes one (repeatable, last wins)",
        )
        add(
            "--overrides",
            metavar="FILE",
            help="overrides file (default: $MODELENV_HOME/overrides.toml if present)",
        )
    add(
        "--base-python",
        metavar="PATH",
        help="interpreter to layer on (default: $MODELENV_BASE_PYTHON, base_python in the"
        " overrides file, this one, uv, pyenv)",
    )
    add(
        "--strict-system",
        action="store_true",
        help="fail when the host lacks a #system_NAME# package",
    )
    add_index_options(parser)


def add_index_options(
    parser: argparse.ArgumentParser,
    *,
    index_help: str = "base package index",
    no_index: bool = True,
) -> None:
    """The index flags of every command that resolves, installs or records an
    index (read back by indexes.from_command_line)."""
    add = parser.add_argument
    add("--index-url", metavar="URL", help=index_help)
    add("--extra-index-url", metavar="URL", action="append", default=[], help="extra index")
    add("--find-links", metavar="PATH", action="append", default=[], help="local wheels")
    if no_index:
        add("--no-index", action="store_true", help="use no index, only --find-links")


def request_from_args(args: argparse.Namespace, model: str) -> Request:
    overrides = getattr(args, "overrides", None)
    check_request(model, args.engine, args.python)
    return Request(
        model=model,
        engine=args.engine,
        python=args.python,
        packages=tuple(getattr(args, "packages", ()) or ()),
        overrides=Path(overrides) if overrides else None,
        base_python=args.base_python,
        # run --share-venv: the calling interpreter, as for ensure_env.
        base_beneath_venv=not getattr(args, "share_venv", False),
        strict_system=args.strict_system,
        project_index=_project_index(),
        index=indexes.from_command_line(
            args.index_url, args.extra_index_url, args.find_links, args.no_index
        ),
    )


def _project_index() -> indexes.IndexSettings:
    from .project import discover

    return discover().index()
