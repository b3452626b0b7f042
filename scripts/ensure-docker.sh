#!/usr/bin/env bash
# Brings up what the sandbox needs on a machine of this kind, idempotently:
#   1. docker.io and debootstrap from Debian's packages, when missing (needs root);
#   2. a running Docker daemon (started in the background when none answers);
#   3. gVisor (`runsc`, Debian's package) registered as the Docker runtime `runsc`, merged
#      into an existing /etc/docker/daemon.json (never clobbering it), dockerd reloaded
#      with SIGHUP; the sandbox's second wall (`nightfix-sandbox serve --runtime runsc`);
#   4. the sandbox base image (built offline with `nightfix-sandbox image build --offline`);
#   5. docker-compose 1.29 and systemd-analyze from Debian's packages (tests/deploy starts
#      deploy/compose.yaml and verifies deploy/systemd).
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

# gVisor: --platform=ptrace (systrap and kvm do not work on these machines) and
# --network=none (without it gVisor refuses containers that have no network).
DAEMON_JSON=/etc/docker/daemon.json
runsc_registered() { docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }
if ! runsc_registered; then
    if [ "$(id -u)" != 0 ]; then
        log "gVisor (runsc) is not registered with Docker and this is not root: run as root"
        exit 1
    fi
    if ! command -v runsc >/dev/null 2>&1; then
        log "installing runsc (gVisor) from Debian's packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq runsc >/dev/null || { apt-get update -qq && apt-get install -y -qq runsc >/dev/null; }
    fi
    log "registering runsc in $DAEMON_JSON and reloading dockerd"
    mkdir -p "$(dirname "$DAEMON_JSON")"
    python3 - "$DAEMON_JSON" "$(command -v runsc)" <<'PY'
import json, os, sys
path, runsc = sys.argv[1], sys.argv[2]
config = {}
if os.path.exists(path) and open(path).read().strip():
    config = json.load(open(path))  # a broken file stops here: fix it by hand, nothing lost
config.setdefault("runtimes", {})["runsc"] = {
    "path": runsc,
    "runtimeArgs": ["--platform=ptrace", "--network=none"],
}
tmp = path + ".nightfix-tmp"
with open(tmp, "w") as fh:
    json.dump(config, fh, indent=2)
    fh.write("\n")
os.replace(tmp, path)
PY
    kill -HUP "$(pidof dockerd)"
    for _ in $(seq 1 30); do
        runsc_registered && break
        sleep 1
    done
    runsc_registered || { log "dockerd did not pick up runsc; see its log"; exit 1; }
fi

if [ -x .venv/bin/nightfix-sandbox ]; then
    .venv/bin/nightfix-sandbox image build --offline --if-missing
fi
deploy_tools=()
command -v docker-compose >/dev/null 2>&1 || deploy_tools+=(docker-compose)
command -v systemd-analyze >/dev/null 2>&1 || deploy_tools+=(systemd)
if [ ${#deploy_tools[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        log "${deploy_tools[*]} missing and this is not root: apt-get install ${deploy_tools[*]}"
        exit 1
    fi
    log "installing ${deploy_tools[*]} from Debian's packages (tests/deploy needs them)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${deploy_tools[@]}" >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq "${deploy_tools[@]}" >/dev/null; }
fi
log "docker ready"
