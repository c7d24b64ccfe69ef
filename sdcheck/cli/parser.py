"""The command line's grammar (argparse, imported and sized by sdcheck.startup).

Only the requested command's parser is built: ``run`` is started by OSSEC on every host
every day. Parse errors raise UsageError (exit 2) instead of printing usage and exiting.
"""

from __future__ import annotations

from sdcheck import __version__
from sdcheck.errors import UsageError
from sdcheck.session import DEFAULT_VARS
from sdcheck.startup import TYPE_CHECKING, argparse_without_gettext, help_formatter

if TYPE_CHECKING:
    import argparse
else:
    argparse = argparse_without_gettext()

_FORMATTER = help_formatter(argparse)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", _FORMATTER)
        super().__init__(*args, **kw)

    def error(self, message):  # never print usage and exit from inside argparse
        raise UsageError(message)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="app or mon; detected from the host when absent")
    p.add_argument("--baseline", metavar="FILE", help="baseline file (default: the bundled one for the profile)")
    p.add_argument("--vars", metavar="FILE", help=f"site variables (YAML; SecureDrop's site-specific works "
                   f"as is). Default: {DEFAULT_VARS} if it exists")
    p.add_argument("--var", metavar="NAME=VALUE", action="append", default=[],
                   help="set one variable (repeatable); not for secrets (sasl_password): see --var-file")
    p.add_argument("--var-file", metavar="NAME=PATH", action="append", default=[],
                   help="set one variable to a file's text, as for a secret (sasl_password; or the environment "
                        "variable SDCHECK_SASL_PASSWORD)")
    p.add_argument("--only", metavar="PREFIX", action="append", default=[], help="run only checks whose id starts so")
    p.add_argument("--skip", metavar="PREFIX", action="append", default=[], help="leave out checks whose id starts so")
    p.add_argument("--waivers", metavar="FILE", help="accepted deviations with reasons and expiry dates "
                   "(default: /etc/sdcheck/waivers.yml if it exists)")
    p.add_argument("--fail-on", metavar="SEVERITY", choices=("low", "medium", "high", "critical"), default="low",
                   help="exit 1 only for problems of this severity or above (errors always count); default low")
    p.add_argument("--state", metavar="FILE", help="run: record this run there; report: say when sdcheck "
                   "last ran (default: /var/lib/sdcheck/state.json if it exists)")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)


def _add_command(sub_or_none, name: str, **kw) -> argparse.ArgumentParser:
    if sub_or_none is None:
        return _Parser(prog=f"sdcheck {name}", description=kw.get("help"))
    return sub_or_none.add_parser(name, **kw)


def _define(name: str, sub=None) -> argparse.ArgumentParser:
    """Define one sub-command (on ``sub``, or as a parser of its own)."""
    if name == "run":
        p = _add_command(sub, "run", help="for OSSEC: one line per problem, or one OK line")
        _common(p)
    elif name == "report":
        p = _add_command(sub, "report", help="for admins: every check, differences and fixes")
        _common(p)
        p.add_argument("--format", action="append", metavar="FORMAT[:FILE]",
                       help="text, json, junit or html; repeatable, each with :FILE to write it there "
                            "(one without a file goes to --output or standard output); default text")
        p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
        p.add_argument("--verbose", "-v", action="store_true", help="also show details of passing checks")
        p.add_argument("--limit", type=int, default=50, metavar="N",
                       help="list at most N names per finding (store checks); default 50")
        p.add_argument("select", nargs="*", metavar="PREFIX", help="same as --only PREFIX")
        p.add_argument("--online", action="store_true", help="also run checks that contact other hosts "
                       "(the SMTP relay probe); never done by 'run'")
        p.add_argument("--hosts", metavar="SPECS", help="check these hosts through testinfra instead of "
                       "this one, in parallel: ssh://root@app,ssh://mon,ansible://mon,local://")
        p.add_argument("--ssh-config", metavar="FILE", help="ssh_config for ssh:// hosts")
        p.add_argument("--ssh-identity-file", metavar="FILE", help="private key for ssh:// hosts")
        p.add_argument("--sudo", action="store_true", help="run the commands on the hosts through sudo")
        p.add_argument("--ansible-inventory", metavar="FILE", help="Ansible inventory for ansible:// hosts; "
                       "ansible://GROUP checks every host of the group")
    elif name == "list":
        p = _add_command(sub, "list", help="the checks, with ids and descriptions")
        p.add_argument("--profile", help="only the checks this profile's baseline enables")
    elif name == "baseline":
        p = _add_command(sub, "baseline", help="capture the live state as an overlay to review; render the "
                                               "effective baseline")
        p.add_argument("action", choices=("capture", "render"))
        p.add_argument("what", nargs="?", choices=("iptables",), help="capture: what to capture")
        p.add_argument("--family", type=int, choices=(4, 6), default=4)
        p.add_argument("--backend", choices=("nft", "legacy"), help="when both hold rules")
        p.add_argument("--output", metavar="FILE", help="write to FILE (default: standard output)")
        p.add_argument("--profile", help="the profile the capture extends, or to render (default: detected)")
        p.add_argument("--baseline", metavar="FILE", help="render: this baseline instead of the profile's")
        p.add_argument("--vars", metavar="FILE", help="render: site variables (default /etc/sdcheck/vars.yml)")
        p.add_argument("--var", metavar="NAME=VALUE", action="append", default=[], help="render: one variable")
        p.add_argument("--var-file", metavar="NAME=PATH", action="append", default=[],
                       help="render: one variable from a file")
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    elif name == "vars":
        p = _add_command(sub, "vars", help="init: a vars file to start from, read from this server where it can")
        p.add_argument("action", choices=("init",))
        p.add_argument("--profile", help="app or mon (default: detected)")
        p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    else:
        p = _add_command(sub, "explain", help="what a check verifies, why, and how to fix it")
        p.add_argument("check_id")
    p.set_defaults(command=name)
    return p


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one command on its own (the man page and completion read it)."""
    return _define(name)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sdcheck", description="Configuration compliance checks for SecureDrop servers.")
    parser.add_argument("--version", action="version", version=f"sdcheck {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name in COMMAND_NAMES:
        _define(name, sub)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    # Building every sub-parser costs ~10 ms of argparse work; `run` is started by OSSEC on
    # every host every day, so only the requested command's parser is built.
    if argv and argv[0] in COMMAND_NAMES:
        return _define(argv[0]).parse_args(argv[1:])
    return build_parser().parse_args(argv)


COMMAND_NAMES = ("run", "report", "list", "explain", "baseline", "vars")
