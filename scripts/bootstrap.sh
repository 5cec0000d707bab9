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
# once. DPkg::Lock::Timeout makes apt wait for dpkg's locks; the package lists' and the
# download cache's locks, which apt-get does not wait for, are retried here within the
# same time.
LOCK_WAIT=300
apt_get() {
    local deadline=$((SECONDS + LOCK_WAIT)) errors status waiting=
    while true; do
        status=0
        errors=$("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" "$@" 2>&1 >/dev/null) || status=$?
        if ((status == 0)) || [[ $errors != *"Could not get lock"* ]] || ((SECONDS >= deadline)); then
            [ -z "$errors" ] || printf '%s\n' "$errors" >&2
            return "$status"
        fi
        if [ -z "$waiting" ]; then
            echo "bootstrap: another apt run holds a lock; waiting for it (up to ${LOCK_WAIT}s)" >&2
            waiting=1
        fi
        sleep 5
    done
}

echo "bootstrap: installing Debian packages: ${need[*]}" >&2
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${need[@]}"
