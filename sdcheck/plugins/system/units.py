"""systemd unit files and their drop-ins, merged as systemd merges them (pure: texts in,
effective settings out)."""

from __future__ import annotations

# where systemd looks for system units, highest precedence first (the unit file is the first
# found; drop-ins come from every one, a same-named drop-in in a higher one masking the others)
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")


def parse_unit(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) assignments in file order; continuation lines joined."""
    out: list[tuple[str, str, str]] = []
    section = ""
    pending = ""
    for raw in text.split("\n"):
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if sep:
            out.append((section, key.strip(), value.strip()))
    return out


def effective(texts: list[str], section: str = "Service") -> dict[str, list[str]]:
    """Each key's values after the unit file and its drop-ins (in order): an empty assignment
    resets a key, as systemd does for list settings (ExecStart=) and plain ones alike."""
    values: dict[str, list[str]] = {}
    for text in texts:
        for sect, key, value in parse_unit(text):
            if sect != section:
                continue
            if value == "":
                values[key] = []
            else:
                values.setdefault(key, []).append(value)
    return values


def last(values: dict[str, list[str]], key: str) -> str | None:
    got = values.get(key)
    return got[-1] if got else None
