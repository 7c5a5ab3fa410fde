"""Print a shell completion script for bash, zsh or fish.

Subcommands and their options are completed from this version of modelenv;
model and engine names from the specs of the project you are in, asked for
at each Tab with `modelenv completion --names models|engines` (no network,
no uv).

examples:
  modelenv completion bash > ~/.local/share/bash-completion/completions/modelenv
  modelenv completion zsh > "${fpath[1]}/_modelenv"
  modelenv completion fish > ~/.config/fish/completions/modelenv.fish
  eval "$(modelenv completion bash)"     # this shell only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import context

SHELLS = ("bash", "zsh", "fish")
# Commands whose first positional is a model name.
_MODEL_COMMANDS = ("show", "lock", "create", "run", "remove", "doctor")
# Options followed by a value that is not a model name.
_FILE_OPTIONS = ("--specs", "--locks", "--home", "--overrides", "--base-python", "--find-links")
_VALUE_OPTIONS = (
    "--engine",
    "--python",
    "--index-url",
    "--extra-index-url",
    "--target",
    "--jobs",
    "-j",
    "-p",
    "--package",
    "--model",
    "--out",
    "--max-size",
    "--older-than",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", nargs="?", choices=SHELLS, help="the shell to complete for")
    parser.add_argument(
        "--names",
        choices=("models", "engines"),
        help="print the model or engine names of the project, one per line (used by the scripts)",
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError

    if args.names:
        paths, ui = context(args)
        from ..launch import name_ok

        names = _models(paths.specs) if args.names == "models" else _engines(paths.specs)
        # Only names modelenv accepts: bash's compgen -W expands its word list, so
        # a key such as "$(cmd)" in a cloned spec would run at each Tab.
        for name in filter(name_ok, names):
            ui.result(name)
        return 0
    if not args.shell:
        raise UsageError("name a shell: bash, zsh or fish", hint="modelenv completion bash")
    options = _options()
    script = {"bash": _bash, "zsh": _zsh, "fish": _fish}[args.shell](options)
    sys.stdout.write(script)
    return 0


def _models(specs: Path) -> list[str]:
    from ..paths import spec_files

    return [p.stem for p in spec_files(specs)]


def _engines(specs: Path) -> list[str]:
    """Engines of _engines.toml and of every spec's [engines.*]; unreadable files skipped."""
    from ..paths import ENGINES_FILE, spec_files

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

    from ..fsutil import NotARegularFile, read_regular

    found: set[str] = {"default"}
    for path in [specs / ENGINES_FILE, *spec_files(specs)]:
        try:
            # A FIFO among the specs must not hang the shell at every TAB.
            data = tomllib.loads(read_regular(path).decode("utf-8"))
        except (OSError, ValueError, NotARegularFile):
            continue
        table = data.get("engines") if path.name != ENGINES_FILE else data
        if isinstance(table, dict):
            found.update(k for k, v in table.items() if isinstance(v, dict))
    return sorted(found)


def _options() -> dict[str, list[str]]:
    """Subcommand -> its long options; "" -> the options before a subcommand."""
    from ..cli import COMMANDS, build_parser

    out: dict[str, list[str]] = {}
    parser = build_parser()
    out[""] = sorted(_long_options(parser))
    for action in parser._actions:  # argparse keeps subparsers here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name in COMMANDS:
                    out[name] = sorted(_long_options(sub))
    return out


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")}


def _bash(options: dict[str, list[str]]) -> str:
    commands = " ".join(k for k in options if k)
    cases = "\n".join(
        f'            {cmd}) opts="{" ".join(opts)}" ;;' for cmd, opts in options.items() if cmd
    )
    takes_value = "|".join([*_FILE_OPTIONS, *_VALUE_OPTIONS])
    return f"""# bash completion for modelenv (modelenv completion bash)
_modelenv_names() {{
    COMPREPLY=($(compgen -W "$(modelenv completion --names "$1" 2>/dev/null)" -- "$cur"))
}}
_modelenv() {{
    local cur prev cmd="" i opts
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {takes_value}) ((i++)) ;;
            -*) ;;
            *) cmd="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    case "$prev" in
        --engine) _modelenv_names engines; return ;;
        --model) _modelenv_names models; return ;;
        {"|".join(_FILE_OPTIONS)}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "{commands} {" ".join(options[""])}" -- "$cur"))
        return
    fi
    if [[ "$cur" == -* ]]; then
        case "$cmd" in
{cases}
            *) opts="" ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case "$cmd" in
        {"|".join(_MODEL_COMMANDS)}) _modelenv_names models ;;
        completion) COMPREPLY=($(compgen -W "{" ".join(SHELLS)}" -- "$cur")) ;;
        validate) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
}}
complete -o default -F _modelenv modelenv
"""


def _zsh(options: dict[str, list[str]]) -> str:
    # zsh runs the bash function through its bash-completion layer.
    return (
        "#compdef modelenv\n# zsh completion for modelenv (modelenv completion zsh)\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + _bash(options).split("\n", 1)[1]
    )


def _fish(options: dict[str, list[str]]) -> str:
    from ..cli import COMMANDS

    lines = [
        "# fish completion for modelenv (modelenv completion fish)",
        "complete -c modelenv -f",
    ]
    for name, help_text in COMMANDS.items():
        lines.append(
            f"complete -c modelenv -n __fish_use_subcommand -a {name} -d {_fish_quote(help_text)}"
        )
    models = "(modelenv completion --names models 2>/dev/null)"
    engines = "(modelenv completion --names engines 2>/dev/null)"
    lines.append(
        "complete -c modelenv -n '__fish_seen_subcommand_from "
        f"{' '.join(_MODEL_COMMANDS)}' -a '{models}'"
    )
    lines.append(
        "complete -c modelenv -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'"
    )
    lines.append(f"complete -c modelenv -l engine -x -a '{engines}'")
    for cmd, opts in options.items():
        cond = "__fish_use_subcommand" if not cmd else f"__fish_seen_subcommand_from {cmd}"
        for opt in opts:
            if opt != "--engine":
                lines.append(f"complete -c modelenv -n '{cond}' -l {opt[2:]}")
    return "\n".join(lines) + "\n"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
