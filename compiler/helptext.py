"""Examples shown at the end of each subcommand's --help (the epilog).

Commands whose module docstring already ends with examples (new, import, run,
completion) are not listed again.
"""

from __future__ import annotations

__all__ = ["epilog"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "validate": (
        "modelenv validate                      # every spec, _engines.toml and target",
        "modelenv validate specs/got-ocr2.toml",
        "modelenv validate --json | jq '.problems[]'",
    ),
    "show": (
        "modelenv show got-ocr2",
        "modelenv show qwen2.5-omni --engine vllm --python 3.11 -p transformers==4.52.0",
        "modelenv show got-ocr2 --json",
    ),
    "lock": (
        "modelenv lock                          # every spec; unchanged ones are skipped",
        "modelenv lock got-ocr2 --engine default --python 3.11",
        "modelenv lock --upgrade-package transformers",
        "modelenv lock --check                  # offline, for CI and pre-commit",
        "modelenv lock --check --json",
    ),
    "create": (
        "modelenv create minilm-onnx",
        "modelenv create got-ocr2 --python 3.11 -p transformers==4.38.0",
        "modelenv create got-ocr2 --base-python /usr/bin/python3.11 --force",
    ),
    "list": (
        "modelenv list",
        "modelenv list --model got-ocr2 --json",
    ),
    "remove": (
        "modelenv remove got-ocr2 --python 3.11 --dry-run",
        "modelenv remove got-ocr2 --engine vllm",
        "modelenv remove --all",
    ),
    "gc": (
        "modelenv gc --dry-run",
        "modelenv gc --max-size 50G --older-than 30",
    ),
    "doctor": (
        "modelenv doctor",
        "modelenv doctor got-ocr2 --engine default --python 3.11",
        "modelenv doctor --json",
        "modelenv doctor --fix got-ocr2",
    ),
    "export": (
        "modelenv export got-ocr2 --ray > runtime_env.json",
        "modelenv export got-ocr2 --ray --working-dir --python 3.11",
    ),
    "target": (
        "modelenv target capture gpu-box --python /opt/venv/bin/python",
        "modelenv target list",
    ),
}


def epilog(command: str) -> str | None:
    lines = EXAMPLES.get(command)
    if not lines:
        return None
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)
