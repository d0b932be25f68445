#!/usr/bin/env bash
# What the GPU check (bench/gpu_check.py) needs on a bare GPU machine beyond torch, triton, timm and
# jinja2: wheels of the project's other dependencies and a pinned timm, plus timm's benchmark.py.
#
#   bash bench/gpu_wheels.sh                   # here, with network: fill .whl/ and .gpu/timm-scripts/
#   bash bench/gpu_wheels.sh --install [DIR]   # there, no network: install .whl/*.whl into DIR (/tmp/site)
#   export PYTHONPATH=DIR                      # then: python3 bench/gpu_check.py --out OUT
#
# Both folders ignore themselves (a .gitignore holding `*`, as a venv does); take them along
# (the device tool: carry [".whl", ".gpu"]). benchmark.py is not the project's: it is copied from
# TIMM_SCRIPTS (default ../shared/timm-scripts), never into the tracked tree.
set -euo pipefail

# The versions the project is tested with (.venv); one version of each. sqlite-utils 4.2 requires
# click, click-default-group, pluggy, python-dateutil (which requires tzdata), sqlite-fts4,
# tabulate and pip (pip is on the machine). All are pure-Python py3-none-any wheels.
WHEELS=(
    timm==1.0.31
    invoke==3.0.3
    sqlite-utils==4.2.1
    click==8.5.1
    click-default-group==1.2.4
    pluggy==1.7.0
    python-dateutil==4.0.0
    tzdata==2026.6
    sqlite-fts4==1.0.3
    tabulate==0.10.0
)
PYTHON_VERSION=${PYTHON_VERSION:-3.12}   # the GPU machine's Python
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEEL_DIR=$ROOT/.whl
SCRIPTS_DIR=$ROOT/.gpu/timm-scripts
TIMM_SCRIPTS=${TIMM_SCRIPTS:-$ROOT/../shared/timm-scripts}

self_ignoring_folder() {  # create $1 with a .gitignore that ignores the whole folder
    mkdir -p "$1"
    echo '*' > "$1/.gitignore"
}

download() {
    self_ignoring_folder "$WHEEL_DIR"
    rm -f "$WHEEL_DIR"/*.whl  # one version of each package: no wheel left from an older pin
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$WHEEL_DIR" "${WHEELS[@]}"
}

copy_timm_scripts() {
    for name in benchmark.py validate.py LICENSE; do
        if [ ! -f "$TIMM_SCRIPTS/$name" ]; then
            echo "No $TIMM_SCRIPTS/$name: set TIMM_SCRIPTS to a folder holding timm's benchmark.py, validate.py and LICENSE." >&2
            exit 1
        fi
    done
    self_ignoring_folder "$ROOT/.gpu"
    rm -rf "$SCRIPTS_DIR" && mkdir -p "$SCRIPTS_DIR"
    cp "$TIMM_SCRIPTS"/{benchmark.py,validate.py,LICENSE} "$SCRIPTS_DIR"/
}

install() {
    local target=${1:-/tmp/site}
    if ! ls "$WHEEL_DIR"/*.whl >/dev/null 2>&1; then
        echo "No wheels in $WHEEL_DIR: run 'bash bench/gpu_wheels.sh' on a machine with network and bring .whl/ along." >&2
        exit 1
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$target" "$WHEEL_DIR"/*.whl
    PYTHONPATH=$target${PYTHONPATH:+:$PYTHONPATH} python3 -c "import invoke, sqlite_utils, timm; print('installed in $target: timm', timm.__version__, '| invoke', invoke.__version__)"
    echo "Now: export PYTHONPATH=$target${PYTHONPATH:+:$PYTHONPATH}"
}

if [ "${1:-}" = "--install" ]; then
    install "${2:-}"
else
    download
    copy_timm_scripts
    ls -1 "$WHEEL_DIR"/*.whl | xargs -n1 basename
    du -ch "$WHEEL_DIR"/*.whl "$SCRIPTS_DIR"/* | tail -n1 | sed 's/total$/in all (.whl + .gpu): the device tool carries at most 64 MiB/'
fi
