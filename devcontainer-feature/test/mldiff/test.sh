#!/bin/bash
# `devcontainer features test` scenario: the Feature left a working mldiff behind.
set -e
source dev-container-features-test-lib
check "mldiff runs" mldiff --version
check "the extension's interpreter imports mldiff" /usr/local/share/mldiff/bin/python -c "import mldiff"
check "git is there" git --version
reportResults
