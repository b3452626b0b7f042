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
#      ~/.cache/nightfix/image-wheels (a second build fetches nothing new);
#   3. docker build of deploy/Dockerfile, which installs only from those wheels (--no-index).
# Exit codes: 0 built; 1 a step failed (its output says which); 2 a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
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
mkdir -p "$context/wheels" "$cache"
dists=(./servers/error_tracking ./servers/github ./servers/sandbox ./client)

step "1/3 wheels of ${dists[*]}"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$context/wheels" "${dists[@]}"
step "2/3 dependency wheels (cache: $cache)"
"$python" -m pip wheel --quiet --wheel-dir "$cache" --find-links "$cache" \
    --find-links "$context/wheels" "${context}"/wheels/*.whl
for wheel in "$cache"/*.whl; do
    case "$(basename "$wheel")" in
        nightfix-*|nightfix_*) ;;  # this checkout's own wheels come from step 1 only
        *) ln "$wheel" "$context/wheels/" 2>/dev/null || cp "$wheel" "$context/wheels/" ;;
    esac
done
rm -f "$cache"/nightfix-*.whl "$cache"/nightfix_*.whl
cp deploy/Dockerfile "$context/Dockerfile"

step "3/3 docker build $tag (from $base; installs from the wheels only)"
docker build --quiet --build-arg "BASE=$base" --tag "$tag" "$context" >/dev/null
step "built $tag ($(docker image inspect "$tag" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"
