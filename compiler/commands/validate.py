"""Validate spec files and report every problem, one line each: FILE: FIELD: message.

With no PATH, validates every spec in the specs folder, its _engines.toml and
its targets (_targets/*.toml), and the overrides file ($MODELENV_HOME/overrides.toml
if present, or --overrides FILE), where a model without a spec is a problem
(elsewhere only a warning). A folder argument means the specs in it. An
_engines.toml argument also validates the specs beside it, since removing an
engine breaks the specs that use it. Writes nothing. Exit status: 0 when every
file is valid, 1 when any is not, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="spec files or folders (default: the specs folder)"
    )
    parser.add_argument(
        "--overrides",
        metavar="FILE",
        help="also check this overrides file (default: $MODELENV_HOME/overrides.toml if present)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document")


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..paths import ENGINES_FILE, display, spec_files
    from ..spec import Engines, Problem, check_engines_file, check_overrides_file, check_spec_file
    from ..spec.targets import TARGETS_DIR, check_target_file, target_files

    paths, ui = context(args)
    files: list[Path] = []
    for raw in args.paths or [str(paths.specs)]:
        p = Path(raw)
        if os.path.isdir(p):  # os.path: False, not an error, for a name too long
            files += spec_files(p)
            if (p / ENGINES_FILE).exists():
                files.append(p / ENGINES_FILE)
            files += target_files(p)
        elif os.path.isfile(p):
            files.append(p)
            if p.name == ENGINES_FILE:
                files += spec_files(p.parent)
        else:
            raise UsageError(f"{display(p)}: no such file or folder")
    if not files:
        raise UsageError(
            f"no spec files found in {', '.join(args.paths) or display(paths.specs)}",
            hint="create one with 'modelenv new NAME -p REQ'",
        )

    engines_cache: dict[Path, tuple[Engines | None, list[Problem]]] = {}

    def engines_for(folder: Path) -> tuple[Engines | None, list[Problem]]:
        key = folder.resolve()
        if key not in engines_cache:
            path = folder / ENGINES_FILE
            engines_cache[key] = (
                check_engines_file(path) if path.exists() else (Engines(path, {}), [])
            )
        return engines_cache[key]

    problems: list[Problem] = []
    invalid = 0
    seen: set[Path] = set()
    for file in files:
        if file.resolve() in seen:
            continue
        seen.add(file.resolve())
        if file.name == ENGINES_FILE:
            found = engines_for(file.parent)[1]
        elif file.parent.name == TARGETS_DIR:
            found = check_target_file(file)[1]
        else:
            engines, engine_problems = engines_for(file.parent)
            # An invalid engines file is reported once, on its own; specs are then
            # checked without the unknown-engine test rather than not at all.
            found = check_spec_file(file, engines if not engine_problems else None)[1]
        problems += found
        invalid += bool(found)
    count = len(seen)
    # The overrides file too: a model in it without a spec is only a warning
    # elsewhere (a home-wide file serves several projects), a problem here.
    overrides = Path(args.overrides) if args.overrides else paths.home / "overrides.toml"
    if args.overrides and not os.path.lexists(overrides):
        raise UsageError(f"overrides file {display(overrides)} does not exist")
    if os.path.lexists(overrides):
        known = sorted(
            {f.stem for f in seen if f.name != ENGINES_FILE and f.parent.name != TARGETS_DIR}
        )
        found = check_overrides_file(overrides, known)[1]
        problems += found
        invalid += bool(found)
        count += 1
    if args.json:
        from ..ui import json_document

        ui.result(
            json_document(
                {
                    "ok": not problems,
                    "files": count,
                    "invalid": invalid,
                    "problems": [
                        {"file": p.path, "field": p.field, "message": p.message} for p in problems
                    ],
                }
            )
        )
        return 1 if problems else 0
    for problem in problems:
        ui.result(str(problem))
    noun = "file" if count == 1 else "files"
    if problems:
        ui.info(
            f"{invalid} of {count} {noun} invalid"
            f" ({len(problems)} problem{'s' if len(problems) != 1 else ''})"
        )
        return 1
    ui.info(f"{count} {noun} valid")
    return 0
