#!/usr/bin/env bash
# Agents on a leave-one-cell-out student's general code (paired_levers/lodo.sh: a recipe trained on pairs of A_default
# and B_alternate only), trained in A_default on the codes' means or on codes drawn from the posterior (`darla train
# --sample-codes`), evaluated with sampled actions in A_default (source), B_default (the cell the student never trained
# on) and B_alternate (a trained cell). Two agents run at once, one thread each; the claim budget's 60,000 steps and
# 100 episodes. Finished agents and evaluations are kept on a rerun.
# Usage: bash docs/results/lodo_agents/lodo_agents.sh OUT ENV_ID STUDENT [means|samples] [auto|bf16|fp32]
#   (the last: what the codes are encoded in, darla train --precision)
#   e.g. bash docs/results/lodo_agents/lodo_agents.sh runs/sampled_codes_lodo/3d/means darla/SeekAvoid-v0 runs/lodo3d_nomix_c300_s0/ada_gvae
set -euo pipefail
out=$1 id=$2 vision=$3 codes=${4:-means} precision=${5:-auto}
case $codes in means) flag= ;; samples) flag=--sample-codes ;; *) echo "codes must be means or samples, got $codes" >&2; exit 2 ;; esac
mkdir -p $out
for seed in 0 1; do
  [ -f $out/seed$seed/model.zip ] || OMP_NUM_THREADS=1 python -m darla train --env $id --domain A_default --vision $vision \
    --general $flag --precision $precision --steps 60000 --seed $seed --out $out/seed$seed > $out/train$seed.log 2>&1 &
done
wait
[ -f $out/eval/evaluation.json ] || OMP_NUM_THREADS=2 python -m darla evaluate --agent $out/seed0 --agent $out/seed1 \
  --domain A_default --domain B_default --domain B_alternate --episodes 100 --out $out/eval > $out/eval.log 2>&1
