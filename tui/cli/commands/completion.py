"""``modeltui completion bash|zsh|fish``: a shell-completion script for verbs, options, model names and
hardware ids.

The script is generated from the command line's own parser (verbs, each verb's options, the choices of
options that have them), so it never lists a flag the CLI does not take. Model names and hardware ids
change (user hardware files, a newly cached timm index), so the script asks for them when Tab is pressed:
``modeltui completion --names models|hardware`` prints one per line (torchvision catalog names, the
bundled ``hf:`` ids and their aliases, ``timm:`` names when timm's index is already cached, never built
here; hardware ids of the built-in catalog and the user hardware directory, and ``this-machine``). No
torch is imported.

Install: ``eval "$(modeltui completion bash)"`` in ``~/.bashrc``; ``eval "$(modeltui completion zsh)"``
in ``~/.zshrc`` (zsh runs the bash script through ``bashcompinit``); ``modeltui completion fish >
~/.config/fish/completions/modeltui.fish``.
"""

from __future__ import annotations

import argparse
import shlex

SHELLS = ("bash", "zsh", "fish")
NAME_KINDS = ("models", "hardware", "verbs")
#: Options whose value is a hardware id / a model name.
HARDWARE_OPTIONS = ("--hardware",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell-completion script (verbs, options, model names, hardware ids)",
        description='Print a completion script: eval "$(modeltui completion bash)" (or zsh) in your shell\'s '
        "rc file; modeltui completion fish > ~/.config/fish/completions/modeltui.fish.",
    )
    p.add_argument("shell", nargs="?", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(format="script")  # printed as is: never folded to the terminal's width
    p.add_argument(
        "--names",
        choices=NAME_KINDS,
        help="print the names the script completes, one per line (the script calls this)",
    )


def run(args: argparse.Namespace) -> int:
    from metrics_core.common.errors import UsageError

    if args.names:
        print("\n".join(names(args.names)))
        return 0
    if args.shell is None:
        raise UsageError("name a shell: modeltui completion bash|zsh|fish")
    spec = verb_options()
    print({"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[args.shell](spec))
    return 0


def names(kind: str) -> list[str]:
    """Completion candidates of ``kind``: ``models``, ``hardware`` or ``verbs`` (see the module doc)."""
    if kind == "verbs":
        from tui.cli.commands import VERBS

        return list(VERBS)
    if kind == "hardware":
        from metrics_core.common.errors import ModeltuiError
        from metrics_core.perf.hardware import load_catalog

        try:
            catalog = load_catalog()
        except ModeltuiError:
            return ["this-machine"]
        return [t.id for t in catalog.targets] + ["this-machine"]
    from metrics_core.sources.catalog import catalog

    out = [s.name for s in catalog()]
    try:
        from metrics_core.sources import hf_source

        for m in hf_source.list_ids():  # each bundled id and its aliases (hf:gpt2)
            out += [f"hf:{n}" for n in (m, *hf_source.bundled()[m]["aliases"])]
    except Exception:  # noqa: BLE001 (a broken bundled file: complete the rest)
        pass
    out += _cached_timm_names()
    return out


def _cached_timm_names() -> list[str]:
    """``timm:`` names from the index timm's version already has in the cache; [] otherwise (building
    the index takes seconds: never on a Tab press)."""
    import json

    from metrics_core.sources import timm_source

    version = timm_source.timm_version()
    if version is None:
        return []
    try:
        data = json.loads(timm_source.index_path(version).read_text(encoding="utf-8"))
        return [f"timm:{n}" for n in sorted(data["models"])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def verb_options() -> dict[str, dict[str, list[str] | None]]:
    """Verb -> {option string -> its choices ([] a free value, None a flag)} from the CLI's parser."""
    from tui.cli import build_parser

    parser, _ = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    out: dict[str, dict[str, list[str] | None]] = {}
    for verb, verb_parser in sub.choices.items():
        opts: dict[str, list[str] | None] = {}
        for action in verb_parser._actions:  # noqa: SLF001
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    if action.choices:
                        opts[flag] = [str(c) for c in action.choices]
                    else:
                        opts[flag] = None if action.nargs == 0 else []
        out[verb] = opts
    return out


def _takes_models(verb: str) -> bool:
    return verb not in ("models", "hardware", "calibrate", "cache", "completion")


def bash_script(spec: dict[str, dict[str, list[str] | None]]) -> str:
    """The bash completion function (``complete -F _modeltui modeltui``)."""
    q = shlex.quote
    verbs = " ".join(spec)
    names_of = "modeltui completion --names"
    opt_cases = "\n".join(f"        {v}) opts={q(' '.join(o))} ;;" for v, o in spec.items())
    choice_cases = []  # per verb: --format of compare is not --format of models
    for verb, opts in spec.items():
        for flag, choices in opts.items():
            if choices and flag not in HARDWARE_OPTIONS:
                words = q(" ".join(choices))
                choice_cases.append(
                    f'        "{verb} {flag}") COMPREPLY=($(compgen -W {words} -- "$cur")); return ;;'
                )
    valued = sorted({f for o in spec.values() for f, c in o.items() if c == []} - set(HARDWARE_OPTIONS))
    model_verbs = "|".join(v for v in spec if _takes_models(v))
    hw = "|".join(HARDWARE_OPTIONS)
    return f"""# modeltui completion for bash (modeltui completion bash)
_modeltui_word() {{
    # the word being completed as typed: bash splits words at ':' (COMP_WORDBREAKS), hf:/timm: names too
    if [ -n "${{COMP_LINE+x}}" ]; then
        local line="${{COMP_LINE:0:COMP_POINT}}"
        printf '%s' "${{line##*[[:space:]]}}"
        return
    fi
    local i=$COMP_CWORD full="${{COMP_WORDS[COMP_CWORD]}}"
    while [ "$i" -gt 1 ] && {{ [ "${{COMP_WORDS[i]}}" = ":" ] || [ "${{COMP_WORDS[i-1]}}" = ":" ]; }}; do
        i=$((i-1))
        full="${{COMP_WORDS[i]}}$full"
    done
    printf '%s' "$full"
}}
_modeltui_models() {{
    # model names for the whole word, each cut to the part bash replaces (after the last break)
    local full pre
    full="$(_modeltui_word)"
    pre="${{full:0:${{#full}}-${{#cur}}}}"
    COMPREPLY=($(compgen -W "$1 $({names_of} models 2>/dev/null)" -- "$full"))
    [ -n "$pre" ] && COMPREPLY=("${{COMPREPLY[@]#"$pre"}}")
}}
_modeltui() {{
    local cur prev verb opts
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    verb="${{COMP_WORDS[1]}}"
    case "$verb $prev" in
{chr(10).join(choice_cases)}
    esac
    case "$prev" in
        {hw}) COMPREPLY=($(compgen -W "$({names_of} hardware 2>/dev/null)" -- "$cur")); return ;;
        {"|".join(valued)}) COMPREPLY=(); return ;;
    esac
    if [ "$COMP_CWORD" -eq 1 ]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
        else
            _modeltui_models "{verbs}"
        fi
        return
    fi
    if [[ "$cur" == -* ]]; then
        opts=""
        case "$verb" in
{opt_cases}
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case "$verb" in
        {model_verbs}) _modeltui_models "" ;;
    esac
}}
complete -o default -F _modeltui modeltui
"""


def zsh_script(spec: dict[str, dict[str, list[str] | None]]) -> str:
    """zsh: the bash function through zsh's ``bashcompinit``."""
    return (
        "# modeltui completion for zsh (modeltui completion zsh)\n"
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(spec)
    )


def fish_script(spec: dict[str, dict[str, list[str] | None]]) -> str:
    """fish: one ``complete`` line per verb and per option."""
    q = shlex.quote
    lines = [
        "# modeltui completion for fish (modeltui completion fish)",
        "complete -c modeltui -f",
        f"complete -c modeltui -n __fish_use_subcommand -a {q(' '.join(spec))}",
        "complete -c modeltui -n __fish_use_subcommand -l version -d 'print the version'",
        "complete -c modeltui -n __fish_use_subcommand -a '(modeltui completion --names models 2>/dev/null)'",
    ]
    model_verbs = " ".join(v for v in spec if _takes_models(v))
    lines.append(
        f"complete -c modeltui -n '__fish_seen_subcommand_from {model_verbs}' "
        "-a '(modeltui completion --names models 2>/dev/null)'"
    )
    for verb, opts in spec.items():
        for flag, choices in opts.items():
            name = flag.removeprefix("--")
            cond = f"-n '__fish_seen_subcommand_from {verb}'"
            if flag in HARDWARE_OPTIONS:
                hardware = "'(modeltui completion --names hardware 2>/dev/null)'"
                lines.append(f"complete -c modeltui {cond} -l {name} -x -a {hardware}")
            elif choices:
                lines.append(f"complete -c modeltui {cond} -l {name} -x -a {q(' '.join(choices))}")
            elif choices == []:
                lines.append(f"complete -c modeltui {cond} -l {name} -r")
            else:
                lines.append(f"complete -c modeltui {cond} -l {name}")
    return "\n".join(lines) + "\n"
