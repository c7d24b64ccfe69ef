"""What the ossec plugin's checks share: where OSSEC lives and how its configuration is read."""

from __future__ import annotations

from sdcheck.check import Option
from sdcheck.plugins.ossec.conf import items

OSSEC_DIR = Option(str, "/var/ossec", help="OSSEC's install directory", check=lambda v: v.startswith("/"))
CONF_LIMIT = 1 << 20


def conf_path(ossec_dir: str) -> str:
    return f"{ossec_dir.rstrip('/')}/etc/ossec.conf"


def read_conf(ctx, ossec_dir: str) -> list[tuple[str, int]]:
    """The items of the host's ossec.conf (memoised for the run); FactError or ConfError."""
    path = conf_path(ossec_dir)

    def read():
        return items(ctx.facts.read_text(path, CONF_LIMIT))
    return ctx.memo(f"ossec.conf:{path}", read)


def conf_value(conf: list[tuple[str, int]], key: str, default: str) -> str:
    """The last value OSSEC would apply for a child item such as ``alerts/email_alert_level``."""
    found = [item.split(" = ", 1)[1] for item, _ in conf if item.startswith(key + " = ")]
    return found[-1] if found else default


__all__ = ["OSSEC_DIR", "conf_path", "conf_value", "read_conf"]
