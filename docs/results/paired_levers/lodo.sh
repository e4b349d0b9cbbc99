#!/usr/bin/env bash
# Leave one train cell out: each candidate recipe (the budget's, without the colour mix, and with it; in 3D also with it at
# contrast 30, the budget's choice before the twenty-third session) trained on pairs
# of A_default and B_alternate alone, then scored on the whole train group, where B_default is a combination its
# training never showed (set B only in the alternate room, the default room only with set A), as the target A_alternate
# is for the budget's students. No target frame is drawn. Writes benchmarks/results/tune_invariance_lodo.json.
# Usage: bash docs/results/paired_levers/lodo.sh   (about 90 min on 2 cores; delete the JSON first to score anew, as
# tune_invariance.py skips candidates it holds; RUN is any 2D claim run, for levers.py)
set -e
RUN=${RUN:-runs/claim2d_s27}
darla collect --env darla/SeekAvoid2D-v0 --domain A_default --domain B_alternate --frames 30000 --pairs 1 --policy resets --seed 0 --out runs/frames2d_lodo_AdBa
darla collect --env darla/SeekAvoid-v0 --domain A_default --domain B_alternate --frames 30000 --pairs 1 --policy random --masks --seed 0 --out runs/frames3d_lodo_AdBa
L="python docs/results/paired_levers/levers.py --run $RUN --variant ada_gvae --threads 2 --seed 0 --no-report"
W='{"object_weight": 200.0, "contrast": 300.0}'
$L --augment none --data runs/frames3d_lodo_AdBa --model "$W" --out runs/lodo3d_nomix_c300_s0
$L --augment mix --data runs/frames3d_lodo_AdBa --model "$W" --out runs/lodo3d_mix_c300_s0
$L --augment mix --data runs/frames3d_lodo_AdBa --model '{"object_weight": 200.0}' --out runs/lodo3d_mix_c30_s0
L1=${L/--seed 0/--seed 1}
$L1 --augment none --data runs/frames3d_lodo_AdBa --model "$W" --out runs/lodo3d_nomix_c300_s1
$L1 --augment mix --data runs/frames3d_lodo_AdBa --model "$W" --out runs/lodo3d_mix_c300_s1
$L --augment none --data runs/frames2d_lodo_AdBa --out runs/lodo2d_nomix_s0
$L --augment mix --data runs/frames2d_lodo_AdBa --out runs/lodo2d_mix_s0
T="python benchmarks/tune_invariance.py --budget claim --threads 2 --json benchmarks/results/tune_invariance_lodo.json"
$T --env darla/SeekAvoid-v0 --out runs/tinv3d \
  --candidate 'lodo_nomix_contrast300_seed0={"vision": "runs/lodo3d_nomix_c300_s0/ada_gvae"}' \
  --candidate 'lodo_mix_contrast300_seed0={"vision": "runs/lodo3d_mix_c300_s0/ada_gvae"}' \
  --candidate 'lodo_mix_contrast30_seed0={"vision": "runs/lodo3d_mix_c30_s0/ada_gvae"}' \
  --candidate 'lodo_nomix_contrast300_seed1={"vision": "runs/lodo3d_nomix_c300_s1/ada_gvae"}' \
  --candidate 'lodo_mix_contrast300_seed1={"vision": "runs/lodo3d_mix_c300_s1/ada_gvae"}'
$T --env darla/SeekAvoid2D-v0 --out runs/tinv2d \
  --candidate 'lodo_nomix_seed0={"vision": "runs/lodo2d_nomix_s0/ada_gvae"}' \
  --candidate 'lodo_mix_seed0={"vision": "runs/lodo2d_mix_s0/ada_gvae"}'
