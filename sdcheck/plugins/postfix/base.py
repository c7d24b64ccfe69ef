"""The postfix plugin's shared ground: its settings, the base of its checks (one finding per
parameter, naming main.cf's line) and the wording they share."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.postfix.live import PostfixConfig, config
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable


RERUN = ("Set the value in SecureDrop's site-specific file and re-run 'securedrop-admin install' "
         "from the Admin Workstation (or fix {where} by hand and run 'postfix reload').")


class PostfixCheck(Check):
    remedy = RERUN
    options = {"config_dir": Option(str, "/etc/postfix", help="Postfix configuration directory")}

    def run(self) -> Iterable[Finding]:
        try:
            cf = config(self.ctx, self.opts["config_dir"])
        except FactError as exc:
            yield self.error(f"the Postfix configuration could not be read: {exc}",
                             resource=self.opts["config_dir"],
                             remedy="Install and configure Postfix on the Monitor Server (re-run "
                                    "'securedrop-admin install'), or set postfix_dir to its directory.")
            return
        found = list(self.judge(cf))
        if not any(f.status.is_problem for f in found):
            found.append(self.passed(self.ok_message, resource=f"{cf.directory}/main.cf"))
        yield from found

    ok_message = "as expected"

    def judge(self, cf: PostfixConfig) -> Iterable[Finding]:
        raise NotImplementedError

    def expect(self, cf: PostfixConfig, name: str, want: str, why: str = "",
               severity: Severity | None = None) -> Iterable[Finding]:
        have = cf.get(name)
        if have != want:
            yield self.param_fail(cf, name, f"is {show(have)}, expected {show(want)}" + why,
                                  want, have, severity)

    def param_fail(self, cf: PostfixConfig, name: str, text: str, want, have,
                   severity: Severity | None = None, remedy: str | None = None) -> Finding:
        where = cf.where(name)
        # the subject is the parameter with its value: a waiver for one value never covers another
        return self.fail(f"{name} {text} ({where})", resource=where, expected=want, actual=show(have),
                         severity=severity, group=name, subject=f"{name} = {have}",
                         remedy=(remedy or self.remedy).replace("{where}", f"{cf.directory}/main.cf"))


def show(value: str) -> str:
    return repr(value) if value == "" or value != value.strip() else value


# site variables the plugin reads itself
SETTINGS = {
    "sasl_password": Option((str, int, float), "", help="the relay password, a string (compared with "
                            "the sasl_passwd table in constant time; never shown)"),
}
