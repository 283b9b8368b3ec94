"""`panicfuzz completion`: a shell completion script (bash; zsh through bashcompinit)."""

from __future__ import annotations

import argparse

from panicfuzz import protocols

ORDER = 90

SCRIPT = """\
# panicfuzz completion for bash (zsh: autoload -U +X bashcompinit && bashcompinit first).
# Install: eval "$(panicfuzz completion)"  (or save it under ~/.local/share/bash-completion/completions/panicfuzz)
_panicfuzz() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%(commands)s --help --version" -- "$cur")); return
    fi
    case "$prev" in
        --variant) COMPREPLY=($(compgen -W "%(variants)s" -- "$cur")); return ;;
        --strategy) COMPREPLY=($(compgen -W "%(strategies)s" -- "$cur")); return ;;
        --format) COMPREPLY=($(compgen -W "%(formats)s" -- "$cur")); return ;;
        --corpus|--state) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    esac
    case "$cur" in
        -*) case "$cmd" in
%(options)s
            esac ;;
        *) case "$cmd" in
            fuzz|verify|campaign) COMPREPLY=($(compgen -W "%(protocols)s" -- "$cur")) ;;
            replay|show|diff|shrink) COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -- "$cur")) ;;
            esac ;;
    esac
}
complete -o filenames -F _panicfuzz panicfuzz
"""


def add_parser(sub) -> None:
    s = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh)",
        description='Print a bash completion script for panicfuzz: commands, options, protocol and variant names, '
        'corpus files. Use it with: eval "$(panicfuzz completion)" (in zsh, after autoload -U +X bashcompinit && bashcompinit).',
    )
    s.set_defaults(func=run, subparsers=sub)


def run(args: argparse.Namespace) -> int:
    from ..search import STRATEGIES
    from ..timeline import FORMATS

    sub = args.subparsers
    names = protocols.names()
    options = "\n".join(
        f"            {name}) COMPREPLY=($(compgen -W \"{' '.join(_flags(p))}\" -- \"$cur\")) ;;" for name, p in sub.choices.items()
    )
    print(
        SCRIPT
        % {
            "commands": " ".join(sub.choices),
            "variants": " ".join(sorted({v.name for n in names for v in protocols.load(n).variants})),
            "strategies": " ".join(STRATEGIES),
            "formats": " ".join(FORMATS),
            "options": options,
            "protocols": " ".join(names),
        },
        end="",
    )
    return 0


def _flags(p: argparse.ArgumentParser) -> list[str]:
    return [s for a in p._actions for s in a.option_strings if s.startswith("--")]
