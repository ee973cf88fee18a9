#!/bin/sh
# Dev container Feature "mldiff": installs mldiff into the container's Python with pip,
# and leaves two stable entry points whatever Python that is:
#   /usr/local/bin/mldiff                   the CLI
#   /usr/local/share/mldiff/bin/python      the interpreter that has mldiff (the VS Code
#                                           extension's mldiff.interpreter points here)
# Options arrive as environment variables (VERSION, SOURCE, PYTHON). MLDIFF_PREFIX
# (default /usr/local) moves both entry points; the tests use it to install into a temp dir.
set -eu

VERSION="${VERSION:-latest}"
SOURCE="${SOURCE:-}"
PYTHON="${PYTHON:-}"
PREFIX="${MLDIFF_PREFIX:-/usr/local}"
FEATURE_DIR="$(cd "$(dirname "$0")" && pwd)"
HOME_DIR="$PREFIX/share/mldiff"

say() { echo "mldiff feature: $*"; }
die() { echo "mldiff feature: error: $*" >&2; exit 1; }

install_packages() {  # install_packages DEBIAN_NAMES... (names are the same on Alpine for these)
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    rm -rf /var/lib/apt/lists/*
  elif command -v apk >/dev/null 2>&1; then
    apk add --no-cache "$@" >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y "$@" >/dev/null
  else
    die "cannot install $* (no apt-get, apk or dnf); add it to the image first"
  fi
}

# mldiff reads the repository with git; CUDA PyTorch runtime images come without it.
if ! command -v git >/dev/null 2>&1; then
  say "installing git"
  install_packages git ca-certificates
fi

if [ -z "$PYTHON" ]; then
  PYTHON="$(command -v python3 || command -v python || true)"
fi
if [ -z "$PYTHON" ]; then
  say "no Python on PATH: installing python3"
  install_packages python3 python3-venv python3-pip
  PYTHON="$(command -v python3)"
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "python '$PYTHON' not found"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  die "$PYTHON is Python $("$PYTHON" -c 'import sys; print(sys.version.split()[0])'); mldiff needs 3.10 or newer"

# What pip installs: the source option (a path relative to this Feature's folder is
# resolved there), else mldiff from PyPI at the requested version.
if [ -n "$SOURCE" ]; then
  REQUIREMENT="$SOURCE"
  case "$SOURCE" in
    /*) ;;
    *) if [ -e "$FEATURE_DIR/$SOURCE" ]; then REQUIREMENT="$FEATURE_DIR/$SOURCE"; fi ;;
  esac
elif [ "$VERSION" = "latest" ]; then
  REQUIREMENT="mldiff"
else
  REQUIREMENT="mldiff==$VERSION"
fi

# An externally managed Python (PEP 668) refuses pip installs: use a venv that still sees
# the image's packages (torch), so validation runs see the same environment.
TARGET="$PYTHON"
if "$PYTHON" -c 'import os, sys, sysconfig; sys.exit(not (sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'; then
  say "$PYTHON is externally managed: installing into a venv at $HOME_DIR/venv"
  if ! "$PYTHON" -m venv --system-site-packages "$HOME_DIR/venv" >/dev/null 2>&1; then
    install_packages python3-venv
    "$PYTHON" -m venv --system-site-packages "$HOME_DIR/venv"
  fi
  TARGET="$HOME_DIR/venv/bin/python"
fi

if ! "$TARGET" -m pip --version >/dev/null 2>&1; then
  "$TARGET" -m ensurepip --upgrade >/dev/null 2>&1 || install_packages python3-pip
fi

say "pip install $REQUIREMENT into $TARGET"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$TARGET" -m pip install --no-cache-dir --quiet -- "$REQUIREMENT"

mkdir -p "$HOME_DIR/bin" "$PREFIX/bin"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$TARGET" > "$HOME_DIR/bin/python"
printf '#!/bin/sh\nexec "%s" -m mldiff "$@"\n' "$TARGET" > "$PREFIX/bin/mldiff.new"
chmod 755 "$HOME_DIR/bin/python" "$PREFIX/bin/mldiff.new"
mv -f "$PREFIX/bin/mldiff.new" "$PREFIX/bin/mldiff"

say "installed $("$PREFIX/bin/mldiff" --version) for $TARGET"
