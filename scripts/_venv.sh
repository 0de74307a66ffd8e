# Sourced by scripts/test and scripts/demo (from the repository root): .venv/ made with $PYTHON
# (python3 by default) on first use, and never silently reused when another interpreter made it.
#
#   PYTHON=python3.12 ./scripts/test    .venv/ must be (or becomes) a Python 3.12 environment
PYTHON_CHOSEN="${PYTHON:+yes}"
PYTHON="${PYTHON:-python3}"
# The interpreter an environment runs on: implementation, version, build, base installation.
_venv_describe='import sys; print(sys.implementation.name, sys.version.split()[0], sys.abiflags, sys.base_prefix)'
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
else
    _venv_wanted="$("$PYTHON" -c "$_venv_describe")"
    _venv_have="$(.venv/bin/python -c "$_venv_describe" 2>/dev/null || echo "a Python that no longer runs")"
    if [ "$_venv_wanted" != "$_venv_have" ]; then
        if [ -n "$PYTHON_CHOSEN" ]; then
            echo ".venv/ was made by another interpreter ($_venv_have) than PYTHON=$PYTHON" \
                "($_venv_wanted). Remove it (rm -rf .venv) to make it again with $PYTHON." >&2
            exit 1
        fi
        echo "== note: .venv/ runs $_venv_have, not $PYTHON ($_venv_wanted); set PYTHON to" \
            "choose, after rm -rf .venv" >&2
    fi
fi
