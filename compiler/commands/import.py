"""Turn another tool's model registry into specs: one spec per model, and an
_engines.toml from the registry's engine defaults.

SOURCE is the registry's format; only 'xinference' is understood so far. FILE
is a JSON document {"models": [{"model_name", "kind", "virtualenv"}, ...],
"engine_packages": {ENGINE: [...]}}; docs/import.md has the mapping rules.

Markers on host facts (has_cuda, not has_cuda, cuda_version == "13.0") are
kept: target locks evaluate them per host (docs/targets.md). Entries modelenv
cannot express (VCS URLs, host facts other than has_cuda, has_npu and
cuda_version) are left out of the specs, kept there as comments, and listed on
standard output, one line each: MODEL: ENTRY: why.
Renamed models and suspicious entries are warnings; -v also lists merged
records. Everything is validated before anything is written, and existing files
are not overwritten without --force.

Exit status: 0 when every model was written, 1 when files exist or a model had
nothing expressible, 2 for a usage error (no such file, not a registry).

example:
  modelenv import xinference xinference-virtualenvs.json --out specs
"""

from __future__ import annotations

import argparse

from . import context

SOURCES = ("xinference",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", choices=SOURCES, metavar="SOURCE", help="the registry's format: xinference"
    )
    parser.add_argument("file", metavar="FILE", help="the registry, as JSON")
    parser.add_argument(
        "--out", metavar="DIR", help="where to write the specs (default: the specs folder)"
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite existing specs and _engines.toml"
    )


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    from ..errors import ModelenvError, UsageError
    from ..fsutil import atomic_write, create_new
    from ..importer import (
        CLASH,
        DUPLICATE,
        MERGED,
        SKIPPED,
        SUSPICIOUS,
        ImportFormatError,
        import_xinference,
    )
    from ..paths import ENGINES_FILE, display
    from ..spec import Engines, SpecError, check_engines_file, check_spec_text

    paths, ui = context(args)
    source = Path(args.file)
    try:
        data = json.loads(source.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"{display(source)}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{display(source)}: is a folder, not a JSON file") from None
    except OSError as exc:
        raise UsageError(f"{display(source)}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{display(source)}: not valid JSON: {exc}") from None
    except RecursionError:
        raise UsageError(
            f"{display(source)}: nested too deeply to read (not an Xinference registry)"
        ) from None
    try:
        result = import_xinference(data)
    except ImportFormatError as exc:
        raise UsageError(
            f"{display(source)}: not an Xinference registry: {exc}",
            hint="docs/import.md describes the expected JSON",
        ) from None

    out = Path(args.out) if args.out else paths.specs
    if out.exists() and not out.is_dir():
        raise UsageError(f"{display(out)}: not a folder")
    files = result.files()

    # Validate everything before writing anything: an invalid file here is a bug.
    with tempfile.TemporaryDirectory(prefix="modelenv-import-") as tmp:
        staged = Path(tmp) / ENGINES_FILE
        staged.write_text(files[ENGINES_FILE], encoding="utf-8")
        engines, problems = check_engines_file(staged)
    if engines is not None:
        engines = Engines(out / ENGINES_FILE, engines.defaults)
        for name, text in files.items():
            if name != ENGINES_FILE:
                problems += check_spec_text(text, out / name, engines)
    if problems:
        raise SpecError(problems)

    existing = [name for name in files if (out / name).exists()]
    if existing and not args.force:
        shown = ", ".join(existing[:5])
        if len(existing) > 5:
            shown += f" and {len(existing) - 5} more"
        raise ModelenvError(
            f"{len(existing)} file{'s' if len(existing) != 1 else ''} already exist in"
            f" {display(out)} ({shown}); nothing was written",
            hint="pass --force to overwrite them, or choose another --out",
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = out / name
        if args.force:
            atomic_write(target, text)
        elif not create_new(target, text):
            raise ModelenvError(f"{display(target)} appeared while importing; rerun the import")
        ui.detail(f"wrote {display(target)}")

    for finding in result.findings:
        if finding.kind in (CLASH, SUSPICIOUS, SKIPPED):
            ui.warn(str(finding))
        elif finding.kind in (MERGED, DUPLICATE):
            ui.detail(str(finding))
        else:
            ui.result(str(finding))
    ui.info(
        f"{len(result.specs)} specs written, {len(result.engines)} engines,"
        f" {len(result.unexpressible)} entries not expressible,"
        f" {len(result.clashes)} name clashes"
    )
    merged = len(result.of_kind(MERGED))
    suspicious = len(result.of_kind(SUSPICIOUS))
    if merged or suspicious:
        ui.info(
            f"{merged} models merged from several records (-v lists them),"
            f" {suspicious} suspicious entries read as placeholders"
        )
    return 1 if result.skipped else 0
