"""system.services: SecureDrop's services are enabled at boot and running, and their unit
files, drop-ins included, keep the settings SecureDrop ships (UMask, User)."""

from __future__ import annotations

from sdcheck.check import Check, Option
from sdcheck.host.base import FactError
from sdcheck.model import Finding, Severity
from sdcheck.plugins.system.units import UNIT_DIRS, effective, last
from sdcheck.startup import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterable

NO_MANAGER = ("has not been booted with systemd", "Failed to connect to bus", "System has not been booted")


def _valid(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and k.endswith((".service", ".timer", ".socket")) and "/" not in k
        and isinstance(v, dict) and set(v) <= {"UMask", "User", "running"} for k, v in value.items())


def _umask(value: str | None) -> int | None:
    try:
        return int(value, 8) if value else None
    except ValueError:
        return None


class Services(Check):
    id = "system.services"
    title = "SecureDrop's services are enabled at boot, running, and keep their UMask and User"
    # what exactly is verified (docs/checks.md, sdcheck explain)
    details = ("(both) for each unit of `units` (app: apache2, tor, ossec and SecureDrop's shredder, "
               "source-deleter and rqworker units; mon: ossec), `systemctl is-enabled` must say enabled (or static) "
               "and, unless the unit says `running: false`, `systemctl is-active` active. Its unit file and every "
               "drop-in (`<unit>.d/*.conf` in /etc, /run and /lib's systemd directories, merged in systemd's order, "
               "an empty assignment resetting) must leave `UMask` and `User` as the baseline says (SecureDrop's "
               "units: UMask=077, User=www-data). A host whose systemd cannot be asked (not PID 1) is an ERROR for "
               "the running part.")
    severity = Severity.HIGH
    why = ("A disabled unit does not come back after the nightly reboot; a stopped shredder leaves deleted "
           "submissions on disk; a drop-in that loosens UMask makes every file the application writes readable "
           "to others, while the unit file SecureDrop ships still looks right.")
    remedy = ("Enable and start the unit ('systemctl enable --now UNIT'), remove the drop-in that changes it "
              "('systemctl cat UNIT' shows them all), and find out who added it.")
    options = {
        "units": Option(dict, {}, help="unit: {UMask: '0077', User: www-data, running: true}", check=_valid),
        "root": Option(str, "/", help="the root the unit files are read under (tests)",
                       check=lambda v: v.startswith("/")),
    }

    def run(self) -> Iterable[Finding]:
        found: list[Finding] = []
        for unit, want in self.opts["units"].items():
            try:
                found.extend(self._unit(unit, want))
            except FactError as exc:
                found.append(self.error(f"{unit}: {exc}", resource=unit))
        found.sort(key=lambda f: -int(f.severity))
        yield from found or [self.passed(f"{len(self.opts['units'])} units enabled, running and as shipped",
                                         resource="systemd")]

    def _systemctl(self, *args: str):
        root = self.opts["root"]
        return self.ctx.facts.run(["systemctl", *([f"--root={root}"] if root != "/" else []), *args], timeout=20)

    def _unit(self, unit: str, want: dict) -> list[Finding]:
        out = []
        state = self._systemctl("is-enabled", unit).stdout.decode("utf-8", "replace").strip()
        if state not in ("enabled", "static", "alias", "indirect", "generated"):
            out.append(self.fail(f"{unit} is {state or 'not installed'} at boot: it does not come back after the "
                                 "nightly reboot", resource=unit, expected="enabled", actual=state or "missing",
                                 severity=Severity.CRITICAL if state == "masked" else Severity.HIGH,
                                 group="enabled", subject=f"{unit} {state or 'missing'}"))
        if want.get("running", True) and self.opts["root"] == "/":
            res = self._systemctl("is-active", unit)
            active = res.stdout.decode("utf-8", "replace").strip()
            if any(m in res.stderr.decode("utf-8", "replace") for m in NO_MANAGER):
                out.append(self.error(f"systemd cannot be asked whether {unit} runs (it is not this host's init)",
                                      resource=unit, group="running"))
            elif active != "active":
                out.append(self.fail(f"{unit} is {active or 'unknown'}, not running", resource=unit,
                                     expected="active", actual=active or "unknown", group="running",
                                     subject=f"{unit} {active or 'unknown'}"))
        texts, files = self._unit_texts(unit)
        values = effective(texts)
        for key in ("UMask", "User"):
            if key not in want:
                continue
            have = last(values, key)
            same = _umask(have) == _umask(str(want[key])) if key == "UMask" else have == str(want[key])
            if not same:
                out.append(self.fail(f"{unit}: {key} is {have or 'not set'}, SecureDrop's unit sets {want[key]} "
                                     f"(read from {', '.join(files) or 'no unit file'})", resource=unit,
                                     expected=str(want[key]), actual=have or "not set", group="unit",
                                     subject=f"{unit} {key}={have or ''}"))
        return out

    def _unit_texts(self, unit: str) -> tuple[list[str], list[str]]:
        """The unit file (the first found) and its drop-ins, in the order systemd applies them."""
        facts, root = self.ctx.facts, self.opts["root"].rstrip("/")
        unit_file = None
        dropins: dict[str, str] = {}
        for d in UNIT_DIRS:
            path = f"{root}{d}/{unit}"
            if unit_file is None and facts.lstat(path) is not None:
                unit_file = path
            ((_, _, entries, _),) = list(facts.list_dirs([f"{root}{d}/{unit}.d"]))
            for name, *_ in entries or []:
                if name.endswith(".conf") and name not in dropins:
                    dropins[name] = f"{root}{d}/{unit}.d/{name}"
        files = ([unit_file] if unit_file else []) + [dropins[n] for n in sorted(dropins)]
        texts = []
        for path in files:
            st = facts.lstat(path)
            if st is not None and st.is_symlink:
                path = facts.realpath(path)
            texts.append(facts.read_text(path, 1 << 20) if path != "/dev/null" else "")
        return texts, files
