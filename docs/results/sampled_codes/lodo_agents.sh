#!/usr/bin/env bash
# Agents on the leave-one-cell-out students' general code (paired_levers/lodo.sh: each env's budget recipe trained on
# pairs of A_default and B_alternate only), trained in A_default on the codes' means or on codes drawn from the
# posterior (`darla train --sample-codes`), each evaluated in A_default (source) and B_default (the cell the student
# never trained on). Two agents run at once, one thread each; the claim budget's 60,000 steps and 100 episodes.
# Usage: bash docs/results/sampled_codes/lodo_agents.sh [OUT] [ENV...]   (ENV: 3d, 2d; both by default)
set -euo pipefail
out=${1:-runs/sampled_codes_lodo}
shift || true
envs=${*:-3d 2d}
export OMP_NUM_THREADS=1
for env in $envs; do
  case $env in
    3d) id=darla/SeekAvoid-v0; vision=runs/lodo3d_nomix_c300_s0/ada_gvae ;;
    2d) id=darla/SeekAvoid2D-v0; vision=runs/lodo2d_nomix_s0/ada_gvae ;;
    *) echo "unknown env $env (3d or 2d)" >&2; exit 2 ;;
  esac
  for codes in means samples; do
    flag=$([ $codes = samples ] && echo --sample-codes || true)
    for seed in 0 1; do
      [ -f $out/$env/$codes/seed$seed/model.zip ] || python -m darla train --env $id --domain A_default --vision $vision \
        --general $flag --steps 60000 --seed $seed --out $out/$env/$codes/seed$seed > $out.$env.$codes.$seed.log 2>&1 &
    done
    wait
    [ -f $out/$env/$codes/eval/evaluation.json ] || OMP_NUM_THREADS=2 python -m darla evaluate \
      --agent $out/$env/$codes/seed0 --agent $out/$env/$codes/seed1 --domain A_default --domain B_default \
      --domain B_alternate --episodes 100 --out $out/$env/$codes/eval > $out.$env.$codes.eval.log 2>&1
  done
done
