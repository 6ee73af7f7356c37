#!/usr/bin/env bash
# Build the mock-sungrow container image without downloading anything inside it.
#
#   deploy/build-image.sh [--base IMAGE] [--tag TAG]
#
# 1. The base image: --base IMAGE (any image with python3 and its venv module), or
#    mock-sungrow-base:bookworm, made once with debootstrap (minbase + python3, python3-venv;
#    about a minute, needs root) and reused while it is present. Delete it to rebuild it:
#    docker image rm mock-sungrow-base:bookworm
# 2. Wheels, on the host: this checkout's wheel (pip wheel) and every dependency's, downloaded
#    for the base's Python version and platform (pip download --only-binary --platform), so
#    the host's Python may differ from the image's.
# 3. docker build --network none: pip installs the wheels with --no-index. The build stage
#    stays behind (untagged) as the next build's cache; remove what builds left (and that
#    cache) with docker image prune --filter label=mock-sungrow.built-by=build-image.sh
#
# Environment: PYTHON (the host interpreter whose pip is used; default python3),
# DEBIAN_MIRROR (default http://deb.debian.org/debian), DOCKER_BUILDKIT (default 0: the
# classic builder, which Debian's docker.io has without buildx).
set -euo pipefail

usage() {
    sed -n '2,20s/^# \{0,1\}//p' "$0"
}

die() {
    echo "build-image: error: $*" >&2
    exit 1
}

DEFAULT_BASE=mock-sungrow-base:bookworm
SUITE=bookworm
BASE=""
TAG=mock-sungrow:latest
while [ $# -gt 0 ]; do
    case "$1" in
        --base) [ $# -ge 2 ] || die "--base needs an image"; BASE=$2; shift 2 ;;
        --base=*) BASE=${1#--base=}; shift ;;
        --tag) [ $# -ge 2 ] || die "--tag needs a tag"; TAG=$2; shift 2 ;;
        --tag=*) TAG=${1#--tag=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[ -n "$TAG" ] || die "--tag must not be empty"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}

command -v docker >/dev/null || die "docker is not installed (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the docker daemon is not reachable (is dockerd running?)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mock-sungrow-image.XXXXXX")
ROOTFS=""
cleanup() {
    local status=$?
    set +e  # clean up everything, whatever fails, and keep the script's own exit status
    if [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ]; then
        # debootstrap mounts /proc and /sys in the tree; a failed run can leave them mounted.
        grep -o " $ROOTFS/[^ ]*" /proc/mounts | sort -r | while read -r mnt; do
            umount -l "$mnt" 2>/dev/null
        done
        rm -rf --one-file-system "$ROOTFS"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

build_base() {
    [ "$(id -u)" = 0 ] || die "making $DEFAULT_BASE needs root (debootstrap); run as root, or pass --base IMAGE"
    command -v debootstrap >/dev/null \
        || die "making $DEFAULT_BASE needs debootstrap (apt-get install debootstrap), or pass --base IMAGE"
    ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/mock-sungrow-rootfs.XXXXXX")
    echo "build-image: making $DEFAULT_BASE with debootstrap ($SUITE, minbase + python3)" >&2
    if ! debootstrap --variant=minbase --include=python3,python3-venv \
            "$SUITE" "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log" >&2
        die "debootstrap failed (full log above; mirror $MIRROR)"
    fi
    # What a container never reads: package lists and caches, documentation, logs.
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old \
        "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
        "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
    tar --numeric-owner -C "$ROOTFS" -c . \
        | docker import --message "debootstrap --variant=minbase $SUITE + python3, python3-venv" \
            --change 'CMD ["/usr/bin/python3"]' - "$DEFAULT_BASE" >/dev/null
    echo "build-image: made $DEFAULT_BASE" >&2
}

if [ -z "$BASE" ]; then
    BASE=$DEFAULT_BASE
    docker image inspect "$BASE" >/dev/null 2>&1 || build_base
elif ! docker image inspect "$BASE" >/dev/null 2>&1; then
    docker pull "$BASE" >&2 || die "base image $BASE is neither present nor pullable"
fi

# The base's Python and platform decide which wheels fit it: every manylinux tag its glibc
# satisfies (pip takes the platform list as given, newest first here).
TARGET=$(docker run --rm --network none --entrypoint python3 "$BASE" -c '
import platform, sys
libc, version = platform.libc_ver()
tags = []
if libc == "glibc":
    major, minor = (int(part) for part in version.split(".")[:2])
    arch = platform.machine()
    aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    for m in range(minor, 4, -1):
        tags.append(f"manylinux_{major}_{m}_{arch}")
        if m in aliases:
            tags.append(f"{aliases[m]}_{arch}")
print(f"{sys.version_info[0]}.{sys.version_info[1]}", *tags)
') || die "cannot run python3 in the base image $BASE"
read -r PY_VERSION PLATFORMS <<< "$TARGET"
[ -n "${PLATFORMS:-}" ] || die "the base image's C library is not glibc: only glibc bases are supported"
PLATFORM_ARGS=()
for tag in $PLATFORMS; do PLATFORM_ARGS+=(--platform "$tag"); done
HOST_VERSION=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if [ "$HOST_VERSION" != "$PY_VERSION" ]; then
    # pip evaluates dependency markers (python_version < "3.11") for the host's interpreter.
    echo "build-image: warning: host Python $HOST_VERSION, image Python $PY_VERSION;" \
         "dependencies gated on the Python version follow the host's" >&2
fi

echo "build-image: wheels for Python $PY_VERSION on ${PLATFORMS%% *}" >&2
mkdir -p "$WORK/wheels"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/wheels" "$ROOT" \
    > "$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log" >&2; die "pip wheel of $ROOT failed"; }
WHEEL=$(ls "$WORK"/wheels/mock_sungrow-*.whl)
"$PYTHON" -m pip download --quiet --dest "$WORK/wheels" --only-binary=:all: \
    --implementation cp --python-version "$PY_VERSION" --abi "cp${PY_VERSION/./}" \
    "${PLATFORM_ARGS[@]}" "$WHEEL" \
    > "$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log" >&2; die "pip download of the dependencies failed"; }
VERSION=$(basename "$WHEEL" | cut -d- -f2)

cp "$ROOT/deploy/Dockerfile" "$ROOT/deploy/healthcheck.py" "$WORK/"
echo "build-image: building $TAG (mock-sungrow $VERSION) on $BASE" >&2
docker build --network none --quiet --build-arg "BASE=$BASE" --build-arg "VERSION=$VERSION" \
    --tag "$TAG" "$WORK" > "$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log" >&2; die "docker build failed"; }
SIZE=$(docker image inspect --format '{{.Size}}' "$TAG")
echo "build-image: built $TAG, $((SIZE / 1000000)) MB" >&2
echo "$TAG"
