"""Markdown table of a `darla tune` study against the first search's scores (benchmarks/results/tune_source.json).

Usage: python docs/results/tune_first_search/table.py OUT/tune.json
"""
import json
import sys

FIRST = "darla/SeekAvoid2D-v0 beta_vae_dae ppo quick"

study = next(iter(json.load(open(sys.argv[1])).values()))
first = json.load(open("benchmarks/results/tune_source.json"))[FIRST]
print("| candidate | first vision model (its two agents) | second vision model (its two agents) | mean | first search (one vision model) |")
print("|---|---|---|---|---|")
best = study["best"]["candidate"]
first_best = max(first, key=lambda c: first[c]["mean"])
for trial in sorted(study["trials"], key=lambda t: -t["source_return"]):
    name, means = trial["candidate"], trial["seed_means"]
    per_vision = [", ".join(f"{m:.2f}" for m in means[i:i + 2]) for i in range(0, len(means), 2)]
    mean = f"**{trial['source_return']:.2f}**" if name == best else f"{trial['source_return']:.2f}"
    old = f"**{first[name]['mean']:.2f}**" if name == first_best else f"{first[name]['mean']:.2f}"
    print(f"| {name} | {' | '.join(per_vision)} | {mean} | {old} |")
