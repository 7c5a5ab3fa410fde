"""A real lock of a second fixed sample of the imported Xinference registry.

    .venv/bin/python bench/corpus_sample.py [--corpus FILE] [--timeout S]

Imports the corpus, then locks 40 models for Python 3.11 against PyPI with a
cold uv cache: a fixed draw (random.Random(SEED) over the sorted model names,
none of them from bench/corpus.py's ten). Needs the network. Prints a
markdown table with the failures counted by cause, and writes it as the
"## Corpus: 40 more models" section of bench/RESULTS.md, leaving the rest of
that file as it is.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import results  # noqa: E402
from corpus import (  # noqa: E402
    CORPUS,
    _reason,
    first_sample,
    fmt,
    isolate,
    load_note,
    lock_models,
    modelenv,
)

SECTION = "## Corpus: 40 more models"
SEED = 17
SIZE = 40
PYTHON = "3.11"

# Failure causes, first match wins: (cause, pattern over modelenv's message).
CAUSES = (
    ("timed out", re.compile(r"^timed out after")),
    ("modelenv bug (internal error)", re.compile(r"internal error")),
    (
        "index unreachable",
        re.compile(
            r"Failed to fetch|error sending request|dns error|tcp connect"
            r"|Connection (?:refused|reset)|Could not connect|network is unreachable"
            r"|operation timed out",
            re.IGNORECASE,
        ),
    ),
    ("host-fact marker (uv cannot read it)", re.compile(r"cuda_version|has_cuda|has_npu")),
    ("conflict with a #system_NAME# pin (the host's version)", re.compile(r"is #system_")),
    ("source build failed", re.compile(r"Failed to (?:download and )?build|build backend")),
    (
        "conflict in one split of the universal lock",
        re.compile(r"resolving dependencies for split"),
    ),
    ("no matching version on PyPI", re.compile(r"there (?:are|is) no versions? of|not found in")),
    ("conflicting requirements", re.compile(r"No solution found")),
)


def second_sample(specs: Path) -> list[str]:
    names = sorted(p.stem for p in specs.glob("[!_]*.toml"))
    first = set(first_sample(specs))
    return sorted(random.Random(SEED).sample([n for n in names if n not in first], SIZE))


def cause(message: str) -> str:
    for name, pattern in CAUSES:
        if pattern.search(message):
            return name
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default=str(CORPUS), help="Xinference registry JSON")
    parser.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per model")
    opts = parser.parse_args()
    load = load_note()
    corpus = Path(opts.corpus).resolve()
    if not corpus.is_file():
        raise SystemExit(f"no corpus at {corpus}")

    tmp = Path(tempfile.mkdtemp(prefix="modelenv-bench-sample-"))
    isolate(tmp)
    try:
        specs = tmp / "specs"
        modelenv(["import", "xinference", str(corpus), "--out", str(specs)], tmp)
        models = second_sample(specs)
        start = time.perf_counter()
        rows = lock_models(specs, tmp, models, opts.timeout, python=PYTHON)
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    failed = [(m, t, why) for m, t, ok, why in rows if not ok]
    causes = Counter(cause(why) for _m, _t, why in failed)
    lines = [
        SECTION,
        "",
        f"A real lock of {SIZE} more imported models (random.Random({SEED}) over the sorted"
        f" names, none of the ten above), Python {PYTHON}, against PyPI, cold uv cache, in"
        f" {fmt(elapsed)}: {len(rows) - len(failed)} of {len(rows)} variants locked."
        " Regenerate with `.venv/bin/python bench/corpus_sample.py` (network). " + load,
        "",
        "Models: " + ", ".join(models) + ".",
        "",
        "| failure cause | variants |",
        "| --- | --- |",
        *[f"| {name} | {n} |" for name, n in causes.most_common()],
        *([] if failed else ["| (none) | 0 |"]),
        "",
    ]
    if failed:
        lines += [
            "| model | variant | cause | first line of the reason |",
            "| --- | --- | --- | --- |",
            *[
                f"| {m} | {t} | {cause(why)} | {_reason(why).replace('|', '/')} |"
                for m, t, why in failed
            ],
            "",
        ]
    section = "\n".join(lines)
    print(section)
    results.update(Path(opts.out), SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
