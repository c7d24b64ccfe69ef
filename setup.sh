#!/usr/bin/env bash
# sdcheck set-up. Run as root on Debian 12 / Ubuntu 22.04+.
#   ./setup.sh install [app|mon]   install sdcheck in /opt/sdcheck and run 'sdcheck report'
#   ./setup.sh test [pytest args]  install what the tests need and run them
#   ./setup.sh bench               time sdcheck against the naive approach (see bench/)
#   ./setup.sh deb [OUTDIR]        build the sdcheck .deb (packaging/build-deb)
# The Debian packages each step installs are listed in packages.txt.
set -euo pipefail
cd "$(dirname "$0")"
# The system interpreter: OSSEC runs sdcheck as root with it, and Debian's python3-iptables
# (no compiler needed) is installed for it.
PY=${PYTHON:-/usr/bin/python3}

die() { echo "setup: $*" >&2; exit 1; }

packages() {  # packages ROLE...: the packages packages.txt lists for these roles
    local roles=" $* "
    awk -v roles="$roles" '!/^[[:space:]]*(#|$)/ && index(roles, " " $1 " ") { print $2 }' packages.txt
}

apt_install() {  # apt_install ROLE...: install the listed packages that are not installed
    local missing=() pkg
    for pkg in $(packages "$@"); do
        [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    # Postfix must not ask questions or configure this machine's mail: tests use their own dirs
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

make_venv() {  # make_venv DIR [pip install args...]
    local dir=$1; shift
    # system site packages: python3-iptables comes from Debian
    if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c 'import sys; assert sys.base_prefix == "/usr"' 2>/dev/null; then
        rm -rf "$dir"
        "$PY" -m venv --system-site-packages "$dir" || die "cannot create a virtual environment in $dir"
    fi
    "$dir/bin/pip" install -q --disable-pip-version-check "$@" || die "pip install $* into $dir failed"
}

case "${1:-}" in
install)
    apt_install runtime
    # the runtime dependencies pinned by hash; sdcheck itself from this tree, built offline with
    # the venv's own setuptools; no test runner on a server (remote hosts: pip install '.[remote]')
    make_venv /opt/sdcheck --require-hashes -r requirements/server.txt -r requirements/build.txt
    /opt/sdcheck/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation . \
        || die "pip install of sdcheck into /opt/sdcheck failed"
    # installed means it starts and finds its plugins; the report below may still find problems
    /opt/sdcheck/bin/sdcheck list >/dev/null || die "sdcheck was installed in /opt/sdcheck but does not start"
    ln -sf /opt/sdcheck/bin/sdcheck /usr/local/bin/sdcheck
    install -d -m 0700 /var/lib/sdcheck /etc/sdcheck   # run --state; vars.yml and waivers.yml
    if [ ! -e /etc/sdcheck/vars.yml ] && [ ! -L /etc/sdcheck/vars.yml ]; then
        # every line commented out: the site's values are the admin's to set (README, Site variables);
        # until then 'sdcheck run' says once which ones are missing
        out=$(/opt/sdcheck/bin/sdcheck vars init ${2:+--profile "$2"} 2>/dev/null) \
            || out="# sdcheck site variables: see README, Site variables ('sdcheck vars init --profile app|mon')"
        ( umask 077; printf '%s\n' "$out" | sed 's/^\([a-z]\)/# \1/' > /etc/sdcheck/vars.yml )
        echo "setup: wrote /etc/sdcheck/vars.yml (commented out): set the site's values there" >&2
    fi
    echo "setup: installed /opt/sdcheck/bin/sdcheck (also /usr/local/bin/sdcheck)" >&2
    rc=0
    if [ -n "${2:-}" ]; then /opt/sdcheck/bin/sdcheck report --profile "$2" || rc=$?
    else /opt/sdcheck/bin/sdcheck report || rc=$?; fi
    # 1 means sdcheck found problems on this host: the install itself worked
    [ "$rc" -le 1 ] || exit "$rc"
    ;;
test)
    shift
    apt_install runtime test
    make_venv .venv -e '.[test]'
    exec .venv/bin/python -m pytest "$@"
    ;;
deb)
    # the Debian package (packaging/build-deb): /opt/venvs/sdcheck from the hash-pinned lock
    apt_install runtime
    command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (package dpkg)"
    packaging/build-deb "${2:-dist}"
    ;;
bench)
    apt_install runtime test bench
    # a regular (not editable) install, byte-compiled, as users get it
    rm -rf .bench-venv && make_venv .bench-venv .
    make_venv .venv -e ".[test,bench]"
    .venv/bin/python bench/bench_run.py --sdcheck .bench-venv/bin/sdcheck "${@:2}"
    .venv/bin/python bench/bench_ruleset.py --sdcheck .bench-venv/bin/sdcheck
    exec .venv/bin/python bench/bench_store.py --sdcheck .bench-venv/bin/sdcheck
    ;;
*)
    sed -n '2,6p' "$0" >&2
    exit 2
    ;;
esac
