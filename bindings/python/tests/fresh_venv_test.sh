#!/usr/bin/env bash
# fresh_venv_test.sh: pip-installs the binding into a new virtual environment and runs its suite.
# Usage: fresh_venv_test.sh PYTHON VENV_DIR (KVC_LIBRARY names the built libkvc.so). The new
# environment gets only the binding and its [test] extra (numpy, pytest): the torch tests skip
# there and run in the Python.BindingSuite test, whose .venv has torch and transformers.
set -euo pipefail
PYTHON="$1"
VENV="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$VENV"
# The base interpreter of PYTHON (a venv's python would nest environments).
BASE="$("$PYTHON" -c 'import sys; print(sys._base_executable)')"
"$BASE" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$HERE/..[test]"
cd "$VENV"  # outside the source tree: `import kvc` must find the installed package
"$VENV/bin/python" -c 'import kvc, sys; assert "site-packages" in kvc.__file__, kvc.__file__; print("installed", kvc.__file__, kvc.version())'
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$HERE"
