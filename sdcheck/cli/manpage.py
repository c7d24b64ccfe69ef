"""The man page and the bash completion, generated from the argparse parser (so they never
drift from what the command accepts): ``python -m sdcheck.cli.manpage man|bash``."""

from __future__ import annotations

import sys

EXIT_CODES = [("0", "every selected check passed (or was skipped)"),
              ("1", "a check found a problem (with --fail-on, of that severity or above) or could not run"),
              ("2", "sdcheck itself could not run: bad arguments, a malformed baseline or vars file, an "
                    "undetectable profile")]
FILES = [("/etc/sdcheck/vars.yml", "site variables (mode 0600); 'sdcheck vars init' starts one"),
         ("/etc/sdcheck/waivers.yml", "accepted deviations, each with a reason and an expiry date"),
         ("/var/lib/sdcheck/state.json", "when 'sdcheck run' last ran, for 'sdcheck report'"),
         ("/usr/share/sdcheck/ossec/", "the OSSEC <localfile> snippets and rules (local_rules.xml)")]


def _roff(text: str) -> str:
    out = (text or "").replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in out.splitlines())


def _commands():
    from sdcheck.cli.parser import COMMAND_NAMES, command_parser

    return [(name, command_parser(name)) for name in COMMAND_NAMES]


def _options(parser) -> list:
    return [a for a in parser._actions if a.option_strings and a.help != "==SUPPRESS=="]


def man() -> str:
    from sdcheck import __version__

    out = [f'.TH SDCHECK 1 "" "sdcheck {__version__}" "User Commands"', ".SH NAME",
           "sdcheck \\- configuration compliance checks for SecureDrop servers, for OSSEC and for admins",
           ".SH SYNOPSIS"]
    commands = _commands()
    for name, _p in commands:
        out.append(f".B sdcheck {name}\n.RI [ options ]\n.br")
    out += [".SH DESCRIPTION", _roff(
        "sdcheck compares a server's live configuration (firewall, Postfix, the OSSEC alert path, the "
        "submission store, OSSEC itself) with a baseline and says what differs, where, and how to fix it. "
        "It only reads: it never changes the host. 'sdcheck run' is what OSSEC's command monitor runs: one "
        "line per problem, each starting 'System configuration error: [CHECK] (SEVERITY)'. 'sdcheck report' "
        "is for admins."), ".SH COMMANDS"]
    for name, parser in commands:
        out += [f".SS sdcheck {name}", _roff(parser.description or "")]
        for action in parser._actions:
            if not action.option_strings and action.dest not in ("help",) and action.choices:
                out += [".TP", f".I {action.dest}", _roff("one of: " + ", ".join(map(str, action.choices)))]
        for action in _options(parser):
            flags = ", ".join(f"\\fB{_roff(f)}\\fR" for f in action.option_strings)
            meta = f" \\fI{_roff(str(action.metavar))}\\fR" if action.metavar else (
                " \\fI" + "|".join(map(str, action.choices)) + "\\fR" if action.choices else "")
            out += [".TP", flags + meta, _roff(action.help or "")]
    out.append(".SH EXIT STATUS")
    for code, text in EXIT_CODES:
        out += [".TP", f".B {code}", _roff(text)]
    out.append(".SH FILES")
    for path, text in FILES:
        out += [".TP", f".I {_roff(path)}", _roff(text)]
    out += [".SH SEE ALSO", _roff("sdcheck explain CHECK; /usr/share/doc/sdcheck/README.md")]
    return "\n".join(out) + "\n"


def bash() -> str:
    commands = _commands()
    cases = []
    for name, parser in commands:
        words = [f for a in _options(parser) for f in a.option_strings]
        words += [str(c) for a in parser._actions if not a.option_strings and a.choices for c in a.choices]
        cases.append(f"        {name}) words=\"{' '.join(words)}\" ;;")
    names = " ".join(n for n, _p in commands)
    return "\n".join([
        "# bash completion for sdcheck (generated from its argument parser)",
        "_sdcheck() {",
        "    local cur=${COMP_WORDS[COMP_CWORD]} words",
        "    if [ \"$COMP_CWORD\" -eq 1 ]; then",
        f"        COMPREPLY=($(compgen -W \"{names} --version --help\" -- \"$cur\")); return",
        "    fi",
        "    case ${COMP_WORDS[1]} in",
        *cases,
        "        *) words= ;;",
        "    esac",
        "    case ${COMP_WORDS[COMP_CWORD-1]} in",
        "        --profile) words=\"app mon\" ;;",
        "        --only|--skip|explain) words=$(sdcheck list 2>/dev/null | cut -d' ' -f1) ;;",
        "        --output|--baseline|--vars|--waivers|--state|--ssh-config) COMPREPLY=($(compgen -f -- \"$cur\")); "
        "return ;;",
        "    esac",
        "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))",
        "}",
        "complete -F _sdcheck sdcheck", ""])


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "man"
    sys.stdout.write(man() if what == "man" else bash())
