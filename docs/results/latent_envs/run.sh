#!/bin/bash
# PPO on codes with 8 envs x 128 steps (the hyperparameter file's until 2026-12-05), 16 x 64 and 32 x 32 (the same
# 1,024-step rollouts), 60,000 steps in A_default, agent seeds 0-2, each scored on 100 source episodes. Source only:
# no target domain is trained on, evaluated or looked at. Then: python docs/results/latent_envs/summary.py --runs $OUT
#   bash docs/results/latent_envs/run.sh        # 2D: the claim run's Ada-GVAE_DAE (general part, 12k-step DAE), the demo's beta_vae_dae
#   OUT=runs/nenv3d ENV=darla/SeekAvoid-v0 SETTINGS="e8 e16" bash docs/results/latent_envs/run.sh \
#       objw3d="runs/claim3d_objw/vision/ada_gvae --general"     # 3D: the object-weighted pixel Ada-GVAE
#   OUT=runs/nbatch SETTINGS="e16 e16b512 e16b1024" bash docs/results/latent_envs/run.sh   # 2D: minibatches of 256, 512, 1,024
set -e
cd "$(dirname "$0")/../../.."
OUT=${OUT:-runs/nenv}
ENV=${ENV:-darla/SeekAvoid2D-v0}
SETTINGS=${SETTINGS:-"e8 e32 e16"}
declare -A VIS=([adadae]="runs/claim_dae12k/vision/ada_gvae_dae --general" [bvd]="runs/demo/vision/beta_vae_dae")
if [ $# -gt 0 ]; then
  VIS=()
  for code in "$@"; do VIS[${code%%=*}]="${code#*=}"; done
fi
declare -A CFG=([e8]="--n-envs 8 --hyperparams n_steps=128" [e16]="--n-envs 16 --hyperparams n_steps=64" [e32]="--n-envs 32 --hyperparams n_steps=32"
              [e16b512]="--n-envs 16 --hyperparams n_steps=64 --hyperparams batch_size=512"
              [e16b1024]="--n-envs 16 --hyperparams n_steps=64 --hyperparams batch_size=1024")
mkdir -p $OUT
for v in "${!VIS[@]}"; do
 for cfg in $SETTINGS; do
  for s in 0 1 2; do
   out=$OUT/${v}_${cfg}_s$s
   [ -f $out/eval/evaluation.json ] && continue
   start=$(date +%s.%N)
   darla train --env $ENV --vision ${VIS[$v]} --domain A_default --steps 60000 --seed $s ${CFG[$cfg]} --out $out > $out.log 2>&1
   echo "$v $cfg $s train_seconds $(echo "$(date +%s.%N) - $start" | bc)" >> $OUT/times.txt
   darla evaluate --agent $out --domain A_default --episodes 100 --seed 1000 --out $out/eval >> $out.log 2>&1
  done
 done
done
