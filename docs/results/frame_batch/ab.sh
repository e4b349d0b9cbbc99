#!/usr/bin/env bash
# PPO steps/s at the commit before FrameBatchVecEnv and at this checkout, alternated ROUNDS times in fresh processes, so
# that a shared machine's drift falls on both alike; summary.py writes the medians. Usage: bash ab.sh [ROUNDS] [BEFORE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
rounds=${1:-4}
before=${2:-fd98d74}
tree=$(mktemp -d)/before
git -C "$repo" worktree add -q --detach "$tree" "$before"
trap 'git -C "$repo" worktree remove --force "$tree"' EXIT
out="$here/ab.jsonl"
: > "$out"
for round in $(seq "$rounds"); do
  for label in before after; do
    t=$([ "$label" = before ] && echo "$tree" || echo "$repo")
    rates=$(cd "$t" && PYTHONPATH="$t" python "$here/ppo_rate.py" 2>/dev/null | tail -1)
    echo "{\"round\": $round, \"label\": \"$label\", \"commit\": \"$(git -C "$t" rev-parse --short HEAD)\", \"rates\": $rates}" >> "$out"
  done
done
python "$here/summary.py" "$out" > "$here/ab_summary.json"
cat "$here/ab_summary.json"
