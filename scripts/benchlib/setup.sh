# Sourced by scripts/bench and scripts/soak: install what they need with
# apt-get (as scripts/test does), build the module when it is missing, and
# pick Debian's python3.  Not executable on its own.

bench_packages=(nginx-core nginx-dev build-essential libpcre2-dev libssl-dev
                zlib1g-dev wrk valgrind curl procps iproute2 python3)

bench_is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# bench_setup NAME: apt-get what is missing (keeping packaged services from
# starting with a temporary policy-rc.d, removed again whatever happens),
# then scripts/build when the .so is missing.
bench_setup() {
    local name=$1 missing=() p created_policy=0
    for p in "${bench_packages[@]}"; do
        bench_is_installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "$name: need root to apt-get install ${missing[*]}" >&2
            return 1
        fi
        echo "$name: installing ${missing[*]} (apt-get)" >&2
        export DEBIAN_FRONTEND=noninteractive
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        if ! apt-get install -y -q --no-install-recommends "${missing[@]}" \
                </dev/null >&2; then
            apt-get update -q </dev/null >&2 || true
            apt-get install -y -q --no-install-recommends "${missing[@]}" \
                </dev/null >&2 || {
                [ "$created_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
                echo "$name: apt-get install failed" >&2
                return 1
            }
        fi
        [ "$created_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
    fi

    if [ ! -f "$top/${GUARD_BUILD:-build}/ngx_http_upstream_guard_module.so" ]
    then
        echo "$name: building the module (scripts/build)" >&2
        "$top/scripts/build" >&2 || { echo "$name: scripts/build failed" >&2;
                                      return 1; }
    fi
}
