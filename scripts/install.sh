#!/usr/bin/env bash
# Install darla in editable mode, with optional extras (e.g. "dev", "all").
# A torch that is already installed (a CUDA build, say) is kept; where there is none, the
# pinned CPU-capable release is installed first, so that pip never resolves a newer torch
# with several GB of CUDA packages on a machine without a GPU.
# Usage: bash scripts/install.sh [EXTRAS]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import torch" 2>/dev/null; then
    python -m pip install "torch==2.13.0"
fi
python -m pip install -e ".${1:+[$1]}"
