#!/usr/bin/env bash
# The GitHub Action's install step (action.yml): mldiff in a virtual environment of its own
# under $RUNNER_TEMP, so it neither needs nor touches the job's Python packages. The
# interpreter's path goes to the step output `python` for the check step.
#   MLDIFF_VERSION      a release on PyPI (default of the action: the release that contains it),
#                       or `checkout`: the action's own checkout (MLDIFF_ACTION_PATH)
#   MLDIFF_PYTHON       the interpreter that makes the environment (default python3)
set -euo pipefail

version="${MLDIFF_VERSION:-}"
python="${MLDIFF_PYTHON:-python3}"
venv="${RUNNER_TEMP:?RUNNER_TEMP is not set (this runs as a GitHub Actions step)}/mldiff-action-venv"

if [ "$version" = checkout ]; then
  spec="${MLDIFF_ACTION_PATH:?MLDIFF_ACTION_PATH is not set}"
elif [[ "$version" =~ ^[0-9]+(\.[0-9]+)*([a-z]+[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?$ ]]; then
  spec="mldiff==$version"
else
  echo "::error title=mldiff::input version: '$version' is neither a release number (0.1.0) nor 'checkout'"
  exit 2
fi

if ! command -v "$python" >/dev/null 2>&1; then
  echo "::error title=mldiff::input python: '$python' is not on PATH (actions/setup-python installs one)"
  exit 2
fi
"$python" - <<'PY' || { echo "::error title=mldiff::mldiff needs Python 3.10 or newer; $("$python" --version 2>&1)"; exit 2; }
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
echo "installed $("$venv/bin/python" -m mldiff --version) from ${spec}"
echo "python=$venv/bin/python" >> "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
