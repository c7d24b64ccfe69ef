#!/usr/bin/env bash
# sdcheck set-up. Run as root on Debian 12 / Ubuntu 22.04+.
#   ./setup.sh install [app|mon]   install sdcheck in /opt/sdcheck and run 'sdcheck report'
#   ./setup.sh test [pytest args]  install what the tests need and run them
#   ./setup.sh bench               time sdcheck against the naive approach (see bench/)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

apt_install() {  # install the Debian packages that provide the given programs, if missing
    local missing=()
    local prog pkg
    for pair in "$@"; do
        prog=${pair%%:*}; pkg=${pair#*:}
        command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] || { [ "${prog#/}" != "$prog" ] && [ -e "$prog" ]; } \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing ${missing[*]}" >&2
        apt-get update -qq
        # Postfix must not ask questions or configure this machine's mail: tests use their own dirs
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

make_venv() {  # make_venv DIR [pip install args...]
    local dir=$1; shift
    if [ ! -x "$dir/bin/python" ]; then
        "$PY" -m venv "$dir" 2>/dev/null || { apt_install "x:python3-venv"; "$PY" -m venv "$dir"; }
    fi
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
}

RUNTIME_PKGS=("iptables-nft:iptables" "ip:iproute2")
TEST_PKGS=("${RUNTIME_PKGS[@]}" "flock:util-linux" "hyperfine:hyperfine" "postconf:postfix"
           "openssl:openssl" "sqlite3:sqlite3" "chromium:chromium"
           "sshd:openssh-server" "gpg:gnupg"
           "/usr/lib/x86_64-linux-gnu/sasl2/libplain.so:libsasl2-modules")

case "${1:-}" in
install)
    apt_install "${RUNTIME_PKGS[@]}"
    make_venv /opt/sdcheck .
    ln -sf /opt/sdcheck/bin/sdcheck /usr/local/bin/sdcheck
    install -d -m 0700 /var/lib/sdcheck /etc/sdcheck   # run --state; vars.yml and waivers.yml
    echo "setup: installed /opt/sdcheck/bin/sdcheck (also /usr/local/bin/sdcheck)" >&2
    rc=0
    if [ -n "${2:-}" ]; then /opt/sdcheck/bin/sdcheck report --profile "$2" || rc=$?
    else /opt/sdcheck/bin/sdcheck report || rc=$?; fi
    # 1 means sdcheck found problems on this host: the install itself worked
    [ "$rc" -le 1 ] || exit "$rc"
    ;;
test)
    shift
    apt_install "${TEST_PKGS[@]}"
    make_venv .venv -e '.[test]'
    exec .venv/bin/python -m pytest "$@"
    ;;
bench)
    apt_install "${TEST_PKGS[@]}"
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
