"""Choosing the profile (app or mon) from the host when --profile is not given.

SecureDrop installs its OSSEC server package only on the Monitor Server and the agent
package (with the application code) only on the Application Server, so dpkg's file
lists say which server this is. OSSEC's own binaries are the fallback: ossec-remoted runs
only on a server, ossec-agentd only on an agent.
"""

from __future__ import annotations

from sdcheck.errors import ProfileError
from sdcheck.host.base import Facts

MARKERS = (
    ("mon", "/var/lib/dpkg/info/securedrop-ossec-server.list"),
    ("app", "/var/lib/dpkg/info/securedrop-ossec-agent.list"),
    ("app", "/var/lib/dpkg/info/securedrop-app-code.list"),
    ("mon", "/var/ossec/bin/ossec-remoted"),
    ("app", "/var/ossec/bin/ossec-agentd"),
)


def detect_profile(facts: Facts, markers=MARKERS) -> tuple[str, str]:
    """Return (profile, the marker that decided it)."""
    seen: dict[str, str] = {}
    for profile, path in markers:
        if profile not in seen and facts.lstat(path) is not None:
            seen[profile] = path
    if len(seen) == 1:
        (profile, path), = seen.items()
        return profile, path
    if not seen:
        raise ProfileError("cannot tell whether this is the Application (app) or Monitor (mon) "
                           "server: no SecureDrop OSSEC package found; pass --profile app or --profile mon")
    raise ProfileError("this host looks like both the app and the mon server ("
                       + ", ".join(seen.values()) + "); pass --profile app or --profile mon")


def chosen_profile(given: str | None, facts: Facts, why: str = "") -> str:
    """``given`` (--profile) if it is a known profile, else the detected one; a UsageError
    otherwise, ``why`` saying what the profile is needed for."""
    from sdcheck.baseline import PROFILES
    from sdcheck.errors import UsageError

    profile = given
    if profile is None:
        try:
            profile, _marker = detect_profile(facts)
        except ProfileError as exc:
            raise UsageError(f"{exc}{why}") from None
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r} (choose {' or '.join(PROFILES)})")
    return profile
