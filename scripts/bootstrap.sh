#!/usr/bin/env bash
# Install the Debian packages that `make test` and `make demo` need, when missing:
# a Docker engine and CLI (docker.io), a registry (docker-registry), busybox for
# the tiny "upstream" images (busybox-static), compose v1 (docker-compose), and
# the namespace tools. Nothing is started here; the harness starts its own engine.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd && have docker || need+=(docker.io)
have docker-registry || need+=(docker-registry)
have busybox || need+=(busybox-static)
have docker-compose || need+=(docker-compose)
have iptables || need+=(iptables)
have ip || need+=(iproute2)
have unshare && have nsenter || need+=(util-linux)
"${PYTHON:-python3}" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)

if ((${#need[@]} == 0)); then
    exit 0
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    have sudo || { echo "bootstrap: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "bootstrap: installing Debian packages: ${need[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
