#!/usr/bin/env bash
# One entry point for a fresh machine:
#   bash bootstrap.sh demo   create .venv, install the pinned CPU stack, run the offline demo
#   bash bootstrap.sh test   same set-up, then the test suite
#   bash bootstrap.sh setup  set-up only
# GPU users: GLUON_AFF_STACK=gpu bash bootstrap.sh setup   (mxnet-cu112 instead of mxnet)
# Horovod (optional): GLUON_AFF_HOROVOD=1 bash bootstrap.sh setup   (compiles horovod 0.28.1
#   against the installed MXNet, gloo, CPU; minutes; docs/imagenet.md "Horovod")
set -euo pipefail
cd "$(dirname "$0")"
VENV=${GLUON_AFF_VENV:-.venv}
STACK=${GLUON_AFF_STACK:-cpu}
PY=${PYTHON:-python3}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[bootstrap] creating $VENV with $($PY --version)"
    "$PY" -m venv "$VENV"
  fi
  local req=requirements-cpu.txt
  [ "$STACK" = gpu ] && req=requirements.txt
  local stamp="$VENV/.gluon-aff-$(cat requirements-common.txt requirements-onnx.txt "$req" setup.py | sha1sum | cut -c1-12)"
  if [ ! -e "$stamp" ]; then
    echo "[bootstrap] installing the pinned $STACK stack ($req)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r "$req"
    "$VENV/bin/python" -m pip install -q --no-deps -r requirements-onnx.txt
    "$VENV/bin/python" -m pip install -q --no-deps -e .
    rm -f "$VENV"/.gluon-aff-*; touch "$stamp"
  fi
  if [ "${GLUON_AFF_HOROVOD:-0}" = 1 ] && ! "$VENV/bin/python" -c 'import horovod.mxnet' 2>/dev/null; then
    echo "[bootstrap] building horovod with MXNet support (requirements-horovod.txt)"
    "$VENV/bin/python" -m pip install -q cmake packaging psutil pyyaml cloudpickle
    HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_TENSORFLOW=1 \
      HOROVOD_WITHOUT_PYTORCH=1 "$VENV/bin/python" -m pip install -q --no-build-isolation \
      --no-cache-dir -r requirements-horovod.txt
  fi
}

cmd=${1:-demo}; shift || true
setup
case "$cmd" in
  setup) ;;
  demo) exec "$VENV/bin/python" scripts/demo.py "$@" ;;
  test) exec "$VENV/bin/python" -m pytest -q "$@" ;;
  *) echo "usage: bash bootstrap.sh [demo|test|setup] [args...]" >&2; exit 2 ;;
esac
