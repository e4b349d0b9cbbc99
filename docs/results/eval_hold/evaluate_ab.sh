#!/bin/bash
# darla evaluate of three agents (target group, 30 episodes, --agreement-steps 2000), alternated three rounds between a
# worktree of the commit before holding and this tree; seconds per run appended to $OUT/times.txt.
#   git worktree add /tmp/before 1799f9d && BEFORE=/tmp/before AGENTS=<folder with seed0..seed2> bash docs/results/eval_hold/evaluate_ab.sh
set -e
HERE=$(cd "$(dirname "$0")/../../.." && pwd)
BEFORE=${BEFORE:-/tmp/before}
A=$(realpath "$AGENTS")
OUT=$(realpath -m "${OUT:-runs/ab_eval}")
mkdir -p "$OUT"
for r in 1 2 3; do
  for side in before after; do
    tree=$([ $side = before ] && echo "$BEFORE" || echo "$HERE")
    rm -rf "$OUT/${side}_$r"
    start=$(date +%s.%N)
    (cd "$tree" && PYTHONPATH="$tree" python -m darla evaluate --agent "$A/seed0" --agent "$A/seed1" --agent "$A/seed2" --domain target \
       --episodes 30 --seed 1000 --agreement-steps 2000 --out "$OUT/${side}_$r" > "$OUT/${side}_$r.log" 2>&1)
    echo "$side $r $(echo "$(date +%s.%N) - $start" | bc)" | tee -a "$OUT/times.txt"
  done
done
