"""Legacy rules read in-process (the host's python-iptables reader, host/iptc.py) turned into
the tokens iptables-save would print, so they are parsed like every other dump."""

from __future__ import annotations


def rule_tokens(rule) -> list[str]:
    """Tokens, as iptables-save would print them, for a host.iptc ``LegacyRule``."""
    tokens: list[str] = []

    def addr(flag: str, value: str | None, empty: tuple) -> None:
        if not value or value in empty:
            return
        if value.startswith("!"):
            tokens.append("!")
            value = value[1:]
        tokens.extend([flag, value])

    addr("-s", rule.src, ("0.0.0.0/0.0.0.0", "::/0"))
    addr("-d", rule.dst, ("0.0.0.0/0.0.0.0", "::/0"))
    addr("-i", rule.in_interface, ())
    addr("-o", rule.out_interface, ())
    proto = rule.protocol
    if proto and proto not in ("ip", "all", "0"):
        addr("-p", proto, ())
    # the fragment flag, from the raw entry: python-iptables' own 'fragment' folds '! -f'
    # into "no flag" (IPT_F_FRAG 0x01 in flags, IPT_INV_FRAG 0x20 in invflags; IPv4 only)
    flags = rule.ip_flags
    if isinstance(flags, int) and flags & 0x01:
        tokens.extend((["!"] if rule.ip_invflags & 0x20 else []) + ["-f"])
    for name, params in rule.matches:
        tokens.extend(["-m", name])
        for key, values in params:
            values = list(values)
            if values and values[0] == "!":
                tokens.append("!")
                values = values[1:]
            tokens.append(f"--{key}")
            tokens.extend(_unescape(v) for v in values)
    if rule.target is not None:
        name, goto, params = rule.target
        tokens.extend(["-g" if goto else "-j", name])
        for key, values in params:
            tokens.append(f"--{key}")
            tokens.extend(_unescape(v) for v in values)
    return tokens


def _unescape(value: str) -> str:
    """python-iptables hands over the extensions' save-format text still escaped
    (xtables_save_string: backslash before \\, " and '); the kernel holds it unescaped."""
    if "\\" not in value:
        return value
    out, chars = [], iter(value)
    for ch in chars:
        out.append(next(chars, "") if ch == "\\" else ch)
    return "".join(out)
