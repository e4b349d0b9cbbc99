#!/usr/bin/env bash
# The first source-only search of beta_vae_dae at the quick budget (2026-11-25, benchmarks/tune_source.py, one vision
# model per candidate, chose "lr1e-3+bottleneck"), rerun through `darla tune` with every candidate's vision model
# trained on two vision seeds and two agents on each. Each candidate's frames and agents are the first search's:
# 10,000 random-policy frames of the train group, PPO at the latent settings of the day (8 envs x 128 steps; lr 1e-3
# and 10 epochs are still the file's). Scored by mean source return in A_default; the target is never built.
# Usage: bash docs/results/tune_first_search/run.sh OUT [WORKERS] [SEED]   (SEED: of the frames, the vision models and
# the agents, which count up from it; 0 by default)
set -euo pipefail
OUT=${1:?usage: run.sh OUT [WORKERS] [SEED]}
WORKERS=${2:-2}
SEED=${3:-0}
C='"collect": {"policy": "random", "domains": ["train"]}, "agent": {"n_envs": 8, "n_steps": 128}'
darla tune --env darla/SeekAvoid2D-v0 --method beta_vae_dae --budget quick --seeds 2 --vision-seeds 2 --workers "$WORKERS" --seed "$SEED" \
  --study "first search, two vision seeds" --out "$OUT" \
  --candidate "default={$C}" \
  --candidate "lr1e-3={\"lr\": 0.001, $C}" \
  --candidate "lr1e-3+bottleneck={\"lr\": 0.001, \"model\": {\"dae_layer\": \"bottleneck\"}, $C}" \
  --candidate "lr1e-3+dae3000={\"lr\": 0.001, \"teacher_steps\": 3000, $C}" \
  --candidate "lr1e-3+bottleneck+dae3000={\"lr\": 0.001, \"model\": {\"dae_layer\": \"bottleneck\"}, \"teacher_steps\": 3000, $C}" \
  --candidate "lr1e-3+bottleneck+beta2={\"lr\": 0.001, \"model\": {\"dae_layer\": \"bottleneck\", \"beta\": 2.0}, $C}" \
  --candidate "lr1e-3+bottleneck+beta4={\"lr\": 0.001, \"model\": {\"dae_layer\": \"bottleneck\", \"beta\": 4.0}, $C}"
