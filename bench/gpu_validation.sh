#!/usr/bin/env bash
# The GPU figures of docs/validation.md, on a machine with a CUDA GPU, in one go:
#   1. fixtures/tiny-train fp32 -> fp16 autocast + GradScaler, and fp32 -> bf16 autocast:
#      `mldiff validate` of each (wall time of the whole A/B, throughput and peak-memory
#      ratios, the confirmations);
#   2. bench/probe_overhead.py --device cuda (the probe's cost in % steps/s).
#
#   bench/gpu_validation.sh [STEPS] [OUT_DIR]      (default 50 steps, ./gpu-validation)
#
# Needs: git, and a Python (PYTHON, default python3) with torch built for CUDA and mldiff's
# own dependencies (pip install -e . from this checkout; nothing is downloaded here). The
# repositories are made in a temp dir; OUT_DIR gets each result's JSON and a summary.txt.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
STEPS="${1:-50}"
OUT="$(mkdir -p "${2:-gpu-validation}" && cd "${2:-gpu-validation}" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$ROOT/server${PYTHONPATH:+:$PYTHONPATH}"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench \
       GIT_COMMITTER_EMAIL=bench@example.com GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

"$PYTHON" - <<'EOF'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit("no CUDA GPU visible to torch: these figures are for a GPU machine")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
EOF

summary="$OUT/summary.txt"
: > "$summary"

# `python` in tiny-train's command must be the Python with CUDA torch.
BIN="$WORK/bin"
mkdir -p "$BIN"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v "$PYTHON")" > "$BIN/python"   # a venv's python stays one
chmod +x "$BIN/python"
export PATH="$BIN:$PATH"

scenario() {  # scenario NAME PRECISION: fp32 (the base) -> PRECISION (the change), timed
  local name="$1" precision="$2" repo="$WORK/$1"
  mkdir -p "$repo"
  cp "$ROOT"/fixtures/tiny-train/* "$repo/"
  git -C "$repo" init -q -b main
  printf 'expect_gpu = true\n' >> "$repo/pyproject.toml"
  git -C "$repo" add -A
  git -C "$repo" commit -q -m tiny-train
  sed -i "s/default=\"fp32\")/default=\"$precision\")/" "$repo/train.py"
  local started ended
  started="$(date +%s.%N)"
  (cd "$repo" && "$PYTHON" -m mldiff validate --json --steps "$STEPS") > "$OUT/$name.json"
  ended="$(date +%s.%N)"
  "$PYTHON" - "$OUT/$name.json" "$name" "$started" "$ended" >> "$summary" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
name, wall = sys.argv[2], float(sys.argv[4]) - float(sys.argv[3])
c = result["comparison"]
env = result["change"]["environment"]
print(f"{name}: {result['steps']} steps per side on {env['device_name']} (torch {env['torch']}, CUDA {env['cuda']})")
print(f"  wall time of the A/B (both runs, the checkout, the comparison): {wall:.1f} s")
print(f"  throughput: {c['throughput'][0]:.0f} -> {c['throughput'][1]:.0f} {c['throughput_unit']}"
      f" (x{c['throughput_ratio']:.2f}; separable: {c['throughput_separable']})")
print(f"  peak memory ({c['memory_kind']}): {c['memory_bytes'][0] / 2**20:.1f} -> {c['memory_bytes'][1] / 2**20:.1f} MiB"
      f" ({c['memory_ratio'] - 1:+.1%})")
print(f"  final loss: {c['final_loss'][0]:.4f} -> {c['final_loss'][1]:.4f}")
for entry in result["confirmations"]:
    print(f"  {entry['status']}: {entry['code']} [{entry['family']}] {entry['detail']}")
for warning in result["warnings"]:
    print(f"  WARNING: {warning}")
EOF
}

scenario fp16 fp16
scenario bf16 bf16
echo "bench/probe_overhead.py --device cuda:" >> "$summary"
"$PYTHON" "$ROOT/bench/probe_overhead.py" --device cuda | tee "$OUT/probe_overhead.txt" >> "$summary"
cat "$summary"
