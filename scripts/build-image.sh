#!/usr/bin/env bash
# Build the nightfix image (client + the three servers) offline, tagged nightfix:<version>.
#
# Usage: scripts/build-image.sh [--tag NAME:TAG] [--base IMAGE] [--help]
#   --tag   image name and tag (default: nightfix:<the client's version>)
#   --base  local base image (default: nightfix-sandbox:base, the sandbox's offline-built
#           Debian bookworm rootfs; `make docker` builds it). Nothing is pulled from a registry.
#
# Steps (each printed as it starts):
#   1. wheels of the four distributions, built from this checkout (pip wheel --no-deps);
#   2. wheels of their dependencies, from PyPI on the host, cached in
#      ~/.cache/nightfix/image-wheels and resolved again only when a pyproject.toml changes;
#   3. docker build of deploy/Dockerfile, which installs only from those wheels (--no-index):
#      a dependencies layer (reused while they are unchanged), then the four distributions.
# Exit codes: 0 built; 1 a step failed (its output says which); 2 a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' client/pyproject.toml | head -1)
tag="nightfix:${version}"
base="nightfix-sandbox:base"
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --tag) tag="${2:?--tag needs NAME:TAG}"; shift 2 ;;
        --base) base="${2:?--base needs an image}"; shift 2 ;;
        *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

step() { echo "[build-image] $*" >&2; }
python=.venv/bin/python
[ -x "$python" ] || python=python3
if ! docker image inspect "$base" >/dev/null 2>&1; then
    step "the base image $base does not exist: run \`make docker\` (builds it offline), then retry"
    exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cache="${XDG_CACHE_HOME:-$HOME/.cache}/nightfix/image-wheels"
mkdir -p "$context/wheels/nightfix" "$context/wheels/deps" "$cache"
dists=(./servers/error_tracking ./servers/github ./servers/sandbox ./client)

step "1/3 wheels of ${dists[*]}"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$context/wheels/nightfix" "${dists[@]}"
# The dependency set is resolved again only when a pyproject.toml (or the Python) changes; the
# list of wheels it resolved to is kept beside them, keyed by that hash.
key=$(cat "${dists[@]/%//pyproject.toml}" <("$python" -V) | sha256sum | cut -c1-16)
listing="$cache/deps-$key.list"
if [ -s "$listing" ] && (cd "$cache" && xargs -a "$listing" ls >/dev/null 2>&1); then
    step "2/3 dependency wheels: cached ($cache, key $key)"
else
    step "2/3 dependency wheels from PyPI (cached in $cache)"
    resolved=$(mktemp -d)
    "$python" -m pip wheel --quiet --wheel-dir "$resolved" --find-links "$cache" \
        --find-links "$context/wheels/nightfix" "$context"/wheels/nightfix/*.whl
    rm -f "$resolved"/nightfix-*.whl "$resolved"/nightfix_*.whl  # step 1 builds those
    (cd "$resolved" && ls -- *.whl) >"$listing.tmp"
    cp -n "$resolved"/*.whl "$cache"/ 2>/dev/null || true
    rm -rf "$resolved"
    mv "$listing.tmp" "$listing"
fi
while read -r wheel; do
    ln "$cache/$wheel" "$context/wheels/deps/" 2>/dev/null || cp "$cache/$wheel" "$context/wheels/deps/"
done <"$listing"
cp deploy/Dockerfile "$context/Dockerfile"

step "3/3 docker build $tag (from $base; installs from the wheels only)"
docker build --quiet --build-arg "BASE=$base" --tag "$tag" "$context" >/dev/null
step "built $tag ($(docker image inspect "$tag" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"
