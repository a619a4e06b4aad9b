#!/usr/bin/env bash
# Installs what the build, `make run` and `make test` need on a fresh Debian machine: liblz4
# (headers), pkg-config, curl (make run talks to the HTTP API with it) and schemathesis (pip).
set -euo pipefail

need_install=0
command -v pkg-config >/dev/null 2>&1 || need_install=1
if [ "$need_install" = 0 ] && ! pkg-config --exists liblz4; then need_install=1; fi
command -v curl >/dev/null 2>&1 || need_install=1

if [ "$need_install" = 1 ]; then
    echo "setup: installing liblz4-dev, pkg-config and curl with apt-get" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq liblz4-dev pkg-config curl >/dev/null
fi

# Schemathesis (PyPI) checks docs/openapi.yaml against a live server in `make test`.
if ! command -v schemathesis >/dev/null 2>&1; then
    echo "setup: installing schemathesis with pip" >&2
    python3 -m pip install -q --disable-pip-version-check 'schemathesis>=4,<5' >/dev/null
fi

command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH (Swift 6 toolchain required)" >&2; exit 1; }
