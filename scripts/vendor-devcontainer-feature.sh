#!/usr/bin/env bash
# Copies the mldiff dev container Feature, with this checkout's mldiff source, into a
# project's .devcontainer/mldiff, so that its devcontainer.json can use it as a local
# Feature before (or instead of) a published one:
#
#   "features": { "./mldiff": { "source": "mldiff-src" } }
#
# Usage: scripts/vendor-devcontainer-feature.sh PROJECT_DIR
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROJECT="${1:?usage: $0 PROJECT_DIR}"
[ -d "$PROJECT" ] || { echo "vendor-devcontainer-feature: $PROJECT is not a directory" >&2; exit 2; }
TARGET="$PROJECT/.devcontainer/mldiff"

rm -rf "$TARGET"
mkdir -p "$TARGET/mldiff-src/server"
cp "$ROOT/devcontainer-feature/src/mldiff/devcontainer-feature.json" "$ROOT/devcontainer-feature/src/mldiff/install.sh" "$TARGET/"
cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$TARGET/mldiff-src/"
cp -R "$ROOT/server/mldiff" "$TARGET/mldiff-src/server/"
find "$TARGET/mldiff-src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
echo "vendored the mldiff Feature into $TARGET"
