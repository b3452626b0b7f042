#!/usr/bin/env bash
# Brings in what the SDK tests of nightfix-errors need beyond the venv, idempotently:
#   sentry-go (Debian's golang-github-getsentry-sentry-go-dev, used in GOPATH mode under
#   /usr/share/gocode, since the Go module proxy may be unreachable). Node's @sentry/node comes
#   from the npm registry through the tests' own cache (~/.cache/nightfix/npm-*/).
# Safe to run again: skipped when the package is installed.
set -euo pipefail

log() { echo "[ensure-sdk-tools] $*" >&2; }

if [ -d /usr/share/gocode/src/github.com/getsentry/sentry-go ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    log "sentry-go is missing and this is not root: apt-get install golang-github-getsentry-sentry-go-dev"
    exit 1
fi
log "installing sentry-go from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends golang-github-getsentry-sentry-go-dev >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-github-getsentry-sentry-go-dev >/dev/null; }
log "sentry-go ready"
