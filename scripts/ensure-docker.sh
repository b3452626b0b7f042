#!/usr/bin/env bash
# Brings up what the sandbox needs on a machine of this kind, idempotently:
#   1. docker.io and debootstrap from Debian's packages, when missing (needs root);
#   2. a running Docker daemon (started in the background when none answers);
#   3. the sandbox base image (built offline with `nightfix-sandbox image build --offline`).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[ensure-docker] $*" >&2; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        log "docker.io/debootstrap are missing and this is not root: install them, then re-run"
        exit 1
    fi
    log "installing docker.io and debootstrap from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: /tmp/dockerd.log)"
    nohup dockerd >/tmp/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /tmp/dockerd.log"; exit 1; }
fi

if [ -x .venv/bin/nightfix-sandbox ]; then
    .venv/bin/nightfix-sandbox image build --offline --if-missing
fi
log "docker ready"
