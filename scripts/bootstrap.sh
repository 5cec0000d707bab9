#!/usr/bin/env bash
# Install the Debian packages that `make test` and `make demo` need, when missing:
# a Docker engine and CLI (docker.io), a registry (docker-registry), busybox for
# the tiny "upstream" images (busybox-static), compose v1 (docker-compose), an
# ssh server for the engine driven over ssh:// (openssh-server), and the namespace tools. Nothing is started here; the harness starts its own engine.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd && have docker || need+=(docker.io)
have docker-registry || need+=(docker-registry)
have busybox || need+=(busybox-static)
have docker-compose || need+=(docker-compose)
[ -x "${SSHD:-/usr/sbin/sshd}" ] || need+=(openssh-server)  # not on PATH for users
have iptables || need+=(iptables)
have ip || need+=(iproute2)
have unshare && have nsenter || need+=(util-linux)
"${PYTHON:-python3}" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)

if ((${#need[@]} == 0)); then
    exit 0
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    if ! have sudo; then
        echo "bootstrap: installing ${need[*]} needs root, and so does the private Docker engine" \
            "(run as root; sudo is not installed)" >&2
        exit 1
    fi
    sudo=(sudo)
fi

# apt-get that waits for another apt run (unattended-upgrades, say) instead of failing at
# once. DPkg::Lock::Timeout makes apt wait for dpkg's locks; for the package lists' and the
# download cache's locks, which apt-get does not wait for, the lock apt names is waited
# for here (apt's locks are fcntl locks: the waiter blocks until the holder lets go) and
# apt-get tried again, within the same time.
LOCK_WAIT=300
# Block until the fcntl lock on the file $1 is free, for at most $2 seconds (SIGALRM ends
# the wait, and the next attempt then reports apt's own words).
wait_for_lock() {
    "${sudo[@]}" "${PYTHON:-python3}" -c '
import fcntl, signal, sys
signal.alarm(max(1, int(sys.argv[2])))
with open(sys.argv[1], "a") as lock:
    fcntl.lockf(lock, fcntl.LOCK_EX)
' "$1" "$2" 2>/dev/null || true
}
apt_get() {
    local deadline=$((SECONDS + LOCK_WAIT)) errors status waiting= lock
    while true; do
        status=0
        errors=$("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" "$@" 2>&1 >/dev/null) || status=$?
        lock=
        if [[ $errors =~ Could\ not\ get\ lock\ ([^[:space:]]+) ]]; then
            lock=${BASH_REMATCH[1]%.}
        fi
        if ((status == 0)) || [ -z "$lock" ] || ((SECONDS >= deadline)); then
            [ -z "$errors" ] || printf '%s\n' "$errors" >&2
            return "$status"
        fi
        if [ -z "$waiting" ]; then
            echo "bootstrap: another apt run holds $lock; waiting for it (up to ${LOCK_WAIT}s)" >&2
            waiting=1
        fi
        wait_for_lock "$lock" $((deadline - SECONDS))
    done
}

echo "bootstrap: installing Debian packages: ${need[*]}" >&2
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${need[@]}"
