"""DARLA's experiment in one command: collect, pretrain each representation, train agents on
each and on pixels, evaluate them all zero-shot in the target domain.

This module is the experiment: which cells exist (one vision model, one agent seed, one
evaluation), each a typed job whose configs are built and checked when the run is planned, so a
bad setting fails before any work. :mod:`darla.runner` runs the cells (resumably, in parallel
worker processes); :mod:`darla.results` turns their reports into tables.

Two protocols, in both of which the vision models see frames of the ``train`` group (and, at the
``quick`` and ``claim`` budgets, of the ``rooms`` group where the env has one), never of the ``target``:

- ``single``: agents learn in the first domain of the ``train`` group (``A_default``);
- ``multi``: agents learn in the whole ``train`` group;

and are evaluated in their source domains and in the ``target`` group. Any pixel env runs too, its
domains made of visual shifts (:mod:`envs.shifted`); as it cannot draw a state in another domain,
its run has no inspect reports (no ground truth) and no variant that learns from pairs.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import envs
from agents import check_action_space, check_algorithm, hyperparams
from darla.agent import AgentConfig, train_agent
from darla.checkpoint import load_vision, read_config
from darla.collect import CollectConfig, collect
from darla.device import check_precision, describe_machine, resolve_device
from darla.errors import DarlaError, require_positive
from darla.evaluate import REPORT_FILE, EvaluateConfig, evaluate
from darla.figures import results_figure
from darla.files import atomic_path, claim_run_folder, write_json_atomic
from darla.inspect import METRICS_FILE, InspectConfig, inspect_model
from darla.metrics.agreement import measurable
from darla.models import VARIANTS, VisionConfig, get_variant, make_config
from darla.results import HEADLINE_SCORES, INVARIANCE_SCORES, TARGET, collect_results, read_scores, results_table, scores_table
from darla.runner import EXECUTORS, Cell, cpu_seconds, finished_cells, run_cells
from darla.train import MASKED_AUGMENTATIONS, OPTIONAL_TARGETS, TrainConfig, pretrain
from darla.version import __version__

RUN_FILE = "reproduce.json"
RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
FIGURE_FILE = "results.png"
#: the representations an experiment compares unless told otherwise
REPRESENTATIONS = ("ae", "dae", "vae", "beta_vae", "beta_vae_dae", "ada_gvae", "cycle_vae")
#: every registered vision model can be named with --method: the defaults first, then the rest of the family
ALL_REPRESENTATIONS = REPRESENTATIONS + tuple(v for v in VARIANTS if v not in REPRESENTATIONS)
BASELINES = ("pixels", "pixels_aug")
PROTOCOLS = ("single", "multi")
SMALL_TRUNK = {"conv_channels": [16, 16, 32, 32], "hidden_dim": 64}
#: beta_vae_dae and its DAE: chosen by same-state retrieval on train-group pairs among settings that keep the demo
#: (this budget, one seed) within the time it took when the demo was asked to show the claim, 14.5 min on a 2-core
#: AMD EPYC (benchmarks/tune_invariance.py, benchmarks/results/tune_invariance_rooms.json and _steps.json):
#: beta 4, J at the DAE's output, lr 5e-4, frames of the train group and the 12 `rooms`, colours mixed, the DAE
#: and then beta_vae_dae 3,000 steps each retrieved 0.738; the DAE 1,000 steps and beta_vae_dae 3,000 or 2,000,
#: 0.667 and 0.648; both 1,000 steps (this budget before), 0.570 at beta 1 with J at the bottleneck and lr 1e-3
#: (the settings a source-return search had chosen: benchmarks/results/tune_source.json) and 0.539 at beta 4
SHORT_TRAINING = {"dae": {"steps": 3000, "augment": "mix"},
                  "beta_vae_dae": {"lr": 5e-4, "dae_layer": "output", "beta": 4.0, "steps": 3000, "augment": "mix"},
                  # chosen by same-state retrieval on train-group pairs (benchmarks/tune_invariance.py,
                  # benchmarks/results/tune_invariance.json), the only setting tried: 3,000 steps at lr 5e-4
                  "ada_gvae": {"lr": 5e-4, "steps": 3000},
                  # the cycle's weight chosen on generated rooms (those of tests/test_models.py, 800 steps): at 10
                  # the general code held nothing of the object, at 1 its place (probe R^2 0.96); steps and lr as
                  # ada_gvae's, untested on the env by an agent
                  "cycle_vae": {"lr": 5e-4, "steps": 3000, "cycle_weight": 1.0},
                  # six greedy stages of a tenth of the steps each, the last 40% fine-tuning (untuned)
                  "stacked_ae": {"greedy_steps": 100}}
#: ten times the quick budget's vision steps, the length disentanglement needs in the field's experience;
#: settings chosen by same-state retrieval on train-group pairs (benchmarks/tune_invariance.py,
#: benchmarks/results/tune_invariance*.json): beta_vae_dae on frames of the train group and of the 12
#: `rooms` (ROOM_FRAMES), each frame's channels mixed at random (the DAE's too), beta 4, J at the DAE's
#: output, 3,000 steps, retrieved 0.738 on the train pairs, against 0.304 for the same frames unmixed, 0.375
#: for train-group frames mixed, 0.275 for neither, and 0.325 for SCAN's beta 53 at 10,000 steps (the setting
#: before, tune_invariance_distinct.json); on 30,000 frames (CLAIM_FRAMES) 6,000 steps retrieved 0.799 against
#: 0.761 for 3,000, 0.784 for 10,000 and 0.777 with a 6,000-step DAE, where 100,000 frames gave 0.763 and 0.745
#: (tune_invariance_frames.json)
#: the paired variants' frames at the claim budget: the train group's three domains without the 12 rooms of
#: object set B, so that a pair joins the two object sets in 2 of 3 frames instead of 2 of 15; their general part
#: then retrieved 0.963 and 0.928 on the train pairs on two vision seeds, against 0.900 and 0.904 with the rooms
#: (pixels; on an Intel Xeon but for the last, on an AMD EPYC), and along random-policy episodes 0.952 against 0.903
#: (tune_invariance_trainonly.json)
PAIRED_FRAMES = {"domains": ["train"]}
#: the weakly supervised recipe at the claim budget: beta_vae_dae's settings with pairs, a consistency term on the
#: shared latents and a contrast of each frame against its pair; through the DAE (ada_gvae_dae) the general part
#: retrieved 0.853 on the train pairs, against 0.835 with the contrast at temperature 1, 0.792 without it and 0.717
#: without either term; in pixels (ada_gvae) 0.865, in 724 s against 1,160-1,182 (consistency 100: 0.863 in pixels,
#: 0.860 through the DAE); with a memory of the last 512 codes as further negatives 0.891 in pixels, against 0.816
#: for 1,024 and 0.808 for 4,096; on a second vision seed 0.904 against 0.877; 256 codes 0.917 and 0.874 on the two
#: seeds (512: 0.891 and 0.904), 128 codes 0.863 and 0.872; a momentum copy of the encoder filling the memory 0.889 at 512,
#: 0.884 at 4,096 and 0.859 at 16,384 (tune_invariance_ada30k.json); on frames of its own (PAIRED_FRAMES) 0.963
PAIRED_RECIPE = {"lr": 5e-4, "beta": 4.0, "augment": "mix", "consistency": 10.0, "contrast": 30.0, "temperature": 0.2,
                 "memory": 512, "collect": PAIRED_FRAMES}
#: the claim budget's settings per representation, each chosen on source or train-group criteria
CLAIM_TRAINING = {
    # the DAE 12,000 steps: Ada-GVAE_DAE's general part through it retrieved 0.926 and 0.909 on the train
    # pairs on two vision seeds, against 0.917 and 0.898 at 6,000 and 0.889 and 0.893 at 3,000 (the same
    # frames and settings otherwise; docs/results/seekavoid2d_dae_steps); not measured for beta_vae_dae,
    # which learns through the same DAE
    "dae": {"steps": 12_000, "augment": "mix"},
    "beta_vae_dae": {"lr": 5e-4, "dae_layer": "output", "beta": 4.0, "steps": 6000, "augment": "mix"},
    # beta 4 by a rule on source-side criteria alone: the candidate meeting more of issue 14's two
    # source-side thresholds (train-pair retrieval >= 0.95, PPO source return >= 2.0, each a mean over
    # every measurement), ties to retrieval. Over three measurements each (two vision seeds and a claim
    # run) beta 4 meets one (0.9500, on the threshold; 1.57) and beta 1 one (0.933, 2.03): a verdict the
    # next seed could turn (tune_invariance_trainonly.json, docs/results/seekavoid2d_trainonly_beta,
    # docs/results/seekavoid2d_claim_beta1). By the same rule the pixel student learns from frames whose colours are
    # not mixed: over two vision seeds it meets both (retrieval 0.954; source return 2.56 with actions sampled as
    # darla evaluate samples them), the mix one (0.950; 1.57); without the mix its decoder draws the frames' colours
    # (grey with it), and object weights 10 and 30 bought return with retrieval, 0.933 and 0.912
    # (docs/results/paired_levers, twenty-second and twenty-third sessions)
    "ada_gvae": {**PAIRED_RECIPE, "augment": "none"},
    "ada_gvae_dae": {**PAIRED_RECIPE, "dae_layer": "output"},
    "cycle_vae": {"lr": 5e-4, "cycle_weight": 1.0},
    "stacked_ae": {"greedy_steps": 1000},
}
#: the claim budget's settings that differ in one env, each chosen on that env's own train pairs: in 3D the pixel
#: Ada-GVAE on the train group's frames along random-policy episodes (the states retrieval scores are drawn along
#: such episodes) retrieved 0.835 and 0.835 on the train pairs on two vision seeds, against 0.773 and 0.786 on fresh
#: starts, and through the DAE 0.731 (seed 0; docs/results/paired_levers); in 2D fresh starts kept the lead (0.963 against 0.952).
#: Its objects' pixels weighed 200 times more (object_weight, on the frames' masks), chosen by the source return of PPO
#: on its code (A_default, 60,000 steps, two agent seeds, one vision seed): 1.25 against 0.79 at 50, -0.12 at 10 and
#: 0.00 unweighted, whose code had lost the objects; its train-pair retrieval fell from 0.835 to 0.747 (paired_levers).
#: Unmixed frames, as in 2D, by both that criterion and the rule's: over two vision seeds at W 200 without the mix,
#: source return 2.86 with sampled actions (the mix's claim runs 2.29, 2.32) and train-pair retrieval 0.827 (0.747,
#: 0.767, 0.739); neither retrieves 0.95, both pass 2.0, so the tie goes to retrieval (paired_levers). Its claim run
#: then kept a third of its source return in the target (docs/results/seekavoid3d_claim_nomix); kept as chosen, since
#: undoing it on that run would choose on the target. The contrast weighed 300 (at 2D's 30 its term ended at 0.54, in 2D
#: at 0.19), by the same rule: train-pair retrieval 0.875 and 0.857 on two vision seeds against 0.823, 0.831 and 0.822 at 30,
#: sampled source return 2.64 against 2.76-2.88; both pass 2.0, neither 0.95, the tie goes to retrieval (paired_levers);
#: with rounding twins left out of retrieval (LOOKALIKE_LEVELS) the train pairs read 0.973 and 0.951 against 0.909 at 30,
#: so both thresholds are met and the choice stands (benchmarks/results/tune_invariance_3d_lookalike.json). Its rooms'
#: colours mixed around the objects (mix_room), by a test of agents instead of retrieval: students trained on pairs of
#: A_default and B_alternate alone, PPO in A_default on their general code, scored by the return in B_default, a
#: combination those students never saw; mix_room's agents kept 2.67 and 2.63 of 3 there at vision seeds 0 and 1, the
#: unmixed recipe's 0.39 and 1.74, and its sampled source return on the whole train group is 2.59. It retrieves less on
#: the train pairs (0.835 against 0.973), which that test showed does not track what agents keep (docs/results/lodo_agents).
#: Each frame of a pair then got its own room mix (mix_room_apart), by a rule written before its numbers: on the same
#: test the held-out cell retrieved 0.940 and 0.950 at vision seeds 0 and 1 (mix_room 0.901), its agents kept 2.67 and
#: 2.87 there (at least 2.55 asked), and its sampled source return on the whole train group is 2.81 (docs/results/mix_room_apart)
#: Every frame is then reconstructed as the source domain draws its state (canonical), the frames drawn in all three
#: train domains, by a rule written before its numbers: on the same test the held-out cell retrieved 0.943 and 0.960
#: (mix_room_apart 0.940, 0.950) and its agents kept 2.79 and 2.81 there (ratios 1.01, 0.99; 2.0 and 0.95 asked); on
#: the whole train group it retrieves 0.937 on the train pairs (0.903) with a sampled source return of 2.80
#: (docs/results/canonical_target). The source domain, A_default, is the one the agents learn in, whatever the target.
#: Half of the frames are then left as drawn (mix_room_apart_half), by a rule written before its numbers: on the same
#: test the held-out cell retrieved 0.974 and 0.981 (0.943, 0.960 before) and its agents kept 2.845 and 2.825 there
#: (ratios 1.01, 0.98); on the whole train group the train pairs retrieve 0.966 (0.937) with a sampled source return
#: of 2.875 (docs/results/canonical_half).
#: In 2D the pixel Ada-GVAE reconstructs every frame as A_default draws its state (canonical) with the objects' pixels
#: weighed 10 times, its frames drawn in all three train domains, by rules written before their numbers: on the 2D
#: leave-one-cell-out test its held-out cell retrieved 0.951 and 0.948 at vision seeds 0 and 1 (the unmixed budget's
#: student 0.937, 0.942 asked) and its agents kept 2.625 and 2.74 there (ratios 1.01; 2.0 and 0.95 asked); on the whole
#: train group, over vision seeds 0-2, the train pairs retrieve 0.950 against the unmixed budget's 0.949 (a tie within
#: a draw's spread, which the rule gives to the candidate) with a sampled source return of 2.58 (docs/results/canonical_2d).
#: The objects then weigh 3 times, by a rule written before its numbers: held out 0.950 and 0.950 (agents 2.155, 2.695);
#: on the whole train group, vision seeds 0-2, the train pairs retrieve 0.954 against weight 10's 0.950, ahead at each
#: seed, with a sampled source return of 2.65. Then object_weight 1 (their pixels count twice), by the same kind of
#: rule: held out 0.959 and 0.963 (agents 2.545, 2.775); on the whole train group, vision seeds 0-2, the train pairs
#: retrieve 0.959 against weight 3's 0.954, with a sampled source return of 2.60
CLAIM_ENV_TRAINING = {"darla/SeekAvoid-v0": {"ada_gvae": {"collect": {**PAIRED_FRAMES, "policy": "random", "pairs": 2},
                                                          "object_weight": 200.0, "contrast": 300.0, "augment": "mix_room_apart_half",
                                                          "canonical": "A_default"}},
                      "darla/SeekAvoid2D-v0": {"ada_gvae": {"collect": {**PAIRED_FRAMES, "pairs": 2}, "object_weight": 1.0,
                                                            "canonical": "A_default"}}}
#: chosen on train-group criteria (benchmarks/tune_invariance.py, 10,000 frames): starting every frame
#: afresh shows an object in 0.51 of the frames against 0.26 along random-policy episodes, and raised
#: beta_vae_dae's train-pair probe R^2 from -1.06 to -0.36 and its retrieval from 0.149 to 0.158
COVERING = {"policy": "resets"}
#: the quick and claim budgets' vision frames: the train group and 12 more rooms of object set B (a wider
#: range of looks; object set A stays in its default room), chosen with beta_vae_dae's colour mixing
ROOM_FRAMES = {**COVERING, "domains": ["train", "rooms"]}
#: the claim budget's frame count, three times the quick budget's (chosen with CLAIM_TRAINING on train pairs)
CLAIM_FRAMES = 30_000


@dataclass(frozen=True)
class Budget:
    """How much of everything one budget spends.

    :param frames: random-policy frames for pretraining.
    :param vision_steps: training steps of each vision model.
    :param agent_steps: environment steps of each agent.
    :param episodes: evaluation episodes per agent and domain.
    :param seeds: agent seeds per method and protocol.
    :param n_envs: parallel envs per agent; None takes the hyperparameter file's.
    :param model: vision config fields every representation shares.
    :param vision: per representation, config fields, ``lr`` and ``steps`` that differ from its
        registered defaults and the budget's vision steps, and ``collect``, fields of frames of its
        own that differ from the budget's, and ``sample_codes``, whether its agents train on codes drawn from its
        posterior (:class:`~darla.agent.AgentConfig`), each chosen on source or train-group criteria only.
    :param collect: :class:`darla.collect.CollectConfig` fields of the frames (``policy``).
    :param inspect: :class:`darla.inspect.InspectConfig` fields of each representation's
        disentanglement report (sample counts).
    :param agreement_steps: source env steps per agent whose states score its action agreement across
        the looks (``darla evaluate --agreement-steps``), where the env can draw them and actions are discrete.
    :param env_vision: per env id, per representation, ``vision`` fields that differ in that env (chosen on
        that env's own train-group criteria); :meth:`in_env` applies them.
    """

    frames: int
    vision_steps: int
    agent_steps: int
    episodes: int
    seeds: int
    n_envs: int | None = None
    model: dict[str, Any] = field(default_factory=dict)
    vision: dict[str, dict[str, Any]] = field(default_factory=dict)
    collect: dict[str, Any] = field(default_factory=dict)
    inspect: dict[str, Any] = field(default_factory=dict)
    agreement_steps: int = 2000
    env_vision: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def in_env(self, env_id: str) -> "Budget":
        """This budget as it runs in ``env_id``: that env's ``env_vision`` fields over ``vision``'s, per
        representation, and no ``env_vision`` left (so a run's record holds only what it ran)."""
        own = self.env_vision.get(env_id, {})
        vision = {rep: {**self.vision.get(rep, {}), **own.get(rep, {})} for rep in {**self.vision, **own}}
        return dataclasses.replace(self, vision=vision, env_vision={})


#: the disentanglement reports of the quick and claim budgets: fewer samples than darla inspect's defaults
#: (a pool of 2,000 as the vision search's: a pool of 1,000 holds barely 500 states that look different, so each
#: draw of them would be nearly the same set, and at some seeds fewer than 500)
QUICK_INSPECT = {"metrics": {"num_train": 500, "num_eval": 250, "num_variance_estimate": 500, "n_estimators": 50}, "pool": 2000,
                 "frames_per_domain": 128, "discriminator_samples": 1000, "discriminator_epochs": 15}

BUDGETS = {
    # a plumbing check: every cell runs, nothing learns much
    "smoke": Budget(frames=600, vision_steps=20, agent_steps=256, episodes=2, seeds=1, n_envs=2, agreement_steps=32,
                    model={**SMALL_TRUNK, "latent_dim": 8}, collect=COVERING,
                    # every model its settings but the budget's 20 steps
                    vision={**{rep: {k: v for k, v in settings.items() if k != "steps"} for rep, settings in SHORT_TRAINING.items()},
                            "ada_gvae": {"lr": 1e-3}, "cycle_vae": {"lr": 1e-3, "specific_dim": 2, "cycle_weight": 1.0},
                            "stacked_ae": {"greedy_steps": 2}},
                    inspect={"metrics": {"num_train": 100, "num_eval": 50, "batch_size": 16, "num_variance_estimate": 100,
                                         "n_estimators": 5}, "pool": 400, "frames_per_domain": 16, "discriminator_samples": 200,
                             "discriminator_epochs": 2, "invariance_states": 100,
                             # two draws keep the spread's code path in the plumbing check at little cost
                             "invariance_draws": 2}),
    # DARLA's architecture at a size this 2-core CPU finished within the hour on SeekAvoid2D for the five
    # unsupervised representations (41.5 min); the weakly supervised ones add 3,000 steps of vision each
    # (ada_gvae: 1,379 s with other jobs on the cores); 3D takes longer
    "quick": Budget(frames=10_000, vision_steps=1000, agent_steps=60_000, episodes=30, seeds=3, vision=SHORT_TRAINING, collect=ROOM_FRAMES,
                    inspect=QUICK_INSPECT),
    # the quick budget's agents on three times its frames and vision trained longer: DARLA's claim tested on a
    # 2-core CPU (SeekAvoid2D, single protocol, beta_vae_dae and pixels: 45 min on an AMD EPYC beside another job);
    # every model 6,000 steps, the length chosen for beta_vae_dae on train pairs (10,000 retrieved no better:
    # tune_invariance_frames.json), which the whole run needs to fit its 2 hours (10,000 was an untested guess);
    # 100 episodes per seed, as one episode's return spreads by about 1.1 (a 30-episode mean moved by up to 0.6
    # between evaluation seeds), for seconds of evaluation
    "claim": Budget(frames=CLAIM_FRAMES, vision_steps=6000, agent_steps=60_000, episodes=100, seeds=3, vision=CLAIM_TRAINING,
                    collect=ROOM_FRAMES, inspect=QUICK_INSPECT, env_vision=CLAIM_ENV_TRAINING),
    # closer to the paper's scale: a GPU is recommended; reports at darla inspect's defaults
    "full": Budget(frames=100_000, vision_steps=20_000, agent_steps=2_000_000, episodes=100, seeds=5),
}


@dataclass
class ReproduceConfig:
    """The experiment.

    :param env: a ``darla/`` env id with ``train`` and ``target`` domain groups.
    :param budget: ``smoke``, ``quick``, ``claim`` or ``full``.
    :param seeds: agent seeds per method and protocol; None takes the budget's.
    :param algo: the RL algorithm every method uses.
    :param protocols: ``single`` and/or ``multi``.
    :param methods: representations and baselines to compare; None: :data:`REPRESENTATIONS` and
        :data:`BASELINES`, less those that learn from pairs where the env cannot draw them.
    :param workers: cells run at once, each in its own process (1: all in this process).
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param precision: what vision models train and encode in: ``"auto"`` (bfloat16 on a CPU that computes it in
        hardware), ``"bf16"`` or ``"fp32"``. A series of seeds run on CPUs of both kinds keeps one by naming it.
    :param seed: seed of data collection and vision training; agent seeds count up from it.
    :param executor: ``process`` (worker processes on this machine) or ``ray`` (Ray tasks; the run
        folder must be on storage every node mounts).
    :param address: the Ray cluster to run on (``ray`` only; None starts a local instance).
    """

    env: str = "darla/SeekAvoid2D-v0"
    budget: str = "smoke"
    seeds: int | None = None
    algo: str = "ppo"
    protocols: tuple[str, ...] = PROTOCOLS
    methods: tuple[str, ...] | None = None
    workers: int = 1
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    executor: str = "process"
    address: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise DarlaError(f"unknown executor {self.executor!r}: choose one of {', '.join(EXECUTORS)}")
        if self.address is not None and self.executor != "ray":
            raise DarlaError("--address names a Ray cluster: use it with --executor ray")
        if self.budget not in BUDGETS:
            raise DarlaError(f"unknown budget {self.budget!r}: choose one of {', '.join(BUDGETS)}")
        domain_groups(self.env)
        paired = [m for m in ALL_REPRESENTATIONS if get_variant(m).model.takes_pairs]
        if self.methods is None:
            self.methods = tuple(m for m in REPRESENTATIONS + BASELINES if envs.draws_from_factors(self.env) or m not in paired)
        self.protocols, self.methods = tuple(self.protocols), tuple(self.methods)
        unpaired = [m for m in self.methods if m in paired]
        if unpaired and not envs.draws_from_factors(self.env):
            raise DarlaError(f"{', '.join(unpaired)} learn(s) from the same state drawn in two domains, which {self.env} cannot "
                             f"draw (only {', '.join(envs.ENV_IDS)} can): leave it out of --method")
        for name, values, known in (("protocol", self.protocols, PROTOCOLS), ("method", self.methods, ALL_REPRESENTATIONS + BASELINES)):
            if not values:
                raise DarlaError(f"no {name} given: choose from {', '.join(known)}")
            unknown = [v for v in values if v not in known]
            if unknown:
                raise DarlaError(f"unknown {name} {', '.join(unknown)}: choose from {', '.join(known)}")
            if len(set(values)) < len(values):
                raise DarlaError(f"a {name} is named twice in {', '.join(values)}: name each once")
        check_algorithm(self.algo, "latent")
        resolve_device(self.device)
        check_precision(self.precision)
        require_positive(self, "workers")
        if self.seeds is not None:
            require_positive(self, "seeds")

    @property
    def plan(self) -> Budget:
        """The budget as it runs in the env (:meth:`Budget.in_env`), with ``seeds`` applied."""
        budget = BUDGETS[self.budget].in_env(self.env)
        return budget if self.seeds is None else dataclasses.replace(budget, seeds=self.seeds)


class Stage(NamedTuple):
    """How one kind of cell turns its planned arguments into configs, and does its work.

    :param build: planned arguments -> the stage's configs, checked as they are built.
    :param work: (configs, planned arguments) -> nothing; writes into ``args["out"]``.
    """

    build: Callable[[dict[str, Any]], Any]
    work: Callable[[Any, dict[str, Any]], None]


def _vision_configs(args: dict[str, Any]) -> tuple[VisionConfig, TrainConfig]:
    return make_config(args["variant"], **args["model"]), TrainConfig(
        steps=args["steps"], lr=args["lr"], seed=args["seed"], device=args["device"], checkpoint_every=max(1, args["steps"] // 4),
        augment=args.get("augment", "none"), precision=args.get("precision", "auto"), **{k: args[k] for k in OPTIONAL_TARGETS if k in args})


def _pretrain(configs: tuple[VisionConfig, TrainConfig], args: dict[str, Any]) -> None:
    # beta_vae_dae learns through its DAE, trained by a cell of its own
    teacher = load_vision(args["teacher"], device="cpu") if args["teacher"] else None
    pretrain(*configs, args["data"], args["out"], resume=True, teacher=teacher)


def whole_code_without_general(config: Any, vision: str | Path | None) -> Any:
    """``config`` (an agent's or a report's, with a ``general`` field) as it can run on ``vision``.

    A weakly supervised model whose training pairs moved every latent found no domain-general
    part (a collapsed code does this); its cells then read the whole code, with a warning, rather
    than ending the experiment, and the agent's ``agent.json`` records the chain it really ran.
    ``vision`` is read only when ``config`` asks for the general part (which needs a checkpoint).
    """
    if config.general and not read_config(vision)["model"].get("general_latents"):
        warnings.warn(f"{vision}: the model found no domain-general latents on its training pairs, so this cell reads "
                      "the whole code", stacklevel=2)
        return dataclasses.replace(config, general=False)
    return config


#: every kind of cell the experiment plans (vision trainings resume; the others start afresh)
STAGES: dict[str, Stage] = {
    "collect": Stage(lambda a: CollectConfig(**{**{k: v for k, v in a.items() if k != "out"}, "domains": tuple(a["domains"])}),
                     lambda config, a: collect(config, a["out"])),
    "vision": Stage(_vision_configs, _pretrain),
    "agent": Stage(lambda a: AgentConfig(**a["config"]),
                   lambda config, a: train_agent(whole_code_without_general(config, config.vision), a["out"])),
    "inspect": Stage(lambda a: InspectConfig(**a["config"]),
                     lambda config, a: inspect_model(a["checkpoint"], a["out"], whole_code_without_general(config, a["checkpoint"]))),
    "evaluate": Stage(lambda a: EvaluateConfig(**a["config"]), lambda config, a: evaluate(config, a["out"])),
}


@dataclass(frozen=True)
class Job:
    """One cell's work: a stage, the JSON arguments it was planned from, and the configs built from them.

    :param kind: a key of :data:`STAGES`.
    :param args: the planned arguments (what the cell's record keeps).
    :param config: the stage's configs, built when the job was planned.
    """

    kind: str
    args: dict[str, Any]
    config: Any

    @classmethod
    def plan(cls, kind: str, args: dict[str, Any]) -> "Job":
        """The job of ``kind`` for ``args``, its configs built and checked now."""
        if kind not in STAGES:
            raise DarlaError(f"unknown cell kind {kind!r}: one of {', '.join(STAGES)}")
        return cls(kind, args, STAGES[kind].build(args))

    def run(self) -> None:
        """Do the work in this process (a worker looks the stage up by name: only data travels)."""
        STAGES[self.kind].work(self.config, self.args)


def domain_groups(env_id: str) -> dict[str, tuple[str, ...]]:
    """The domain groups of an env (:func:`envs.catalogue`), refusing one without DARLA's ``train`` and ``target``."""
    groups = envs.catalogue(env_id).groups
    if "train" not in groups or TARGET not in groups:
        raise DarlaError(f"{env_id} has no 'train' and 'target' domain groups to reproduce DARLA's protocol with")
    return groups


def frames_carry(variant: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The collect fields a learner needs beyond the frames: ``pairs`` for a variant that learns from pairs or
    reconstructs a ``canonical`` domain (as many as its ``collect`` names, else 1), ``masks`` for one whose
    ``settings`` (config fields and ``augment``) weigh the objects' pixels (``object_weight``) or recolour around
    them (:data:`darla.train.MASKED_AUGMENTATIONS`)."""
    masks = bool(settings.get("object_weight")) or settings.get("augment") in MASKED_AUGMENTATIONS
    paired = get_variant(variant).model.takes_pairs or bool(settings.get("canonical"))
    return {**({"pairs": settings.get("collect", {}).get("pairs", 1)} if paired else {}), **({"masks": True} if masks else {})}


def budget_frames(budget: Budget, env_id: str, seed: int, override: dict[str, Any] | None = None) -> dict[str, Any]:
    """The :class:`darla.collect.CollectConfig` fields of a budget's vision frames in ``env_id``: the ``train``
    group, and the budget's extra groups where the env has them.

    :param override: fields that differ for one representation (its ``collect`` in the budget's ``vision``).
    """
    wanted = {**budget.collect, **(override or {})}
    collect = {"env": env_id, "domains": ["train"], "frames": budget.frames, "seed": seed, **wanted}
    if "domains" in wanted:  # an env without the budget's extra rooms collects from its groups that exist
        collect["domains"] = [d for d in wanted["domains"] if d in domain_groups(env_id)]
    return collect


def frames_cell(override: dict[str, Any]) -> str:
    """The name of the frames cell (and folder) of a collection that differs from the budget's by ``override``:
    ``frames`` for none, else the fields it sets, e.g. ``frames_domains-train_policy-random``."""
    parts = (f"{key}-{'-'.join(map(str, value)) if isinstance(value, list) else value}" for key, value in sorted(override.items()))
    return "_".join(["frames", *parts])


def source_domains(env_id: str, protocol: str) -> tuple[str, ...]:
    """Where agents of ``protocol`` learn: the ``train`` group, or its first domain alone."""
    return ("train",) if protocol == "multi" else (domain_groups(env_id)["train"][0],)


def general(representation: str) -> bool:
    """Whether agents on ``representation`` see only its domain-general latents: those of a
    weakly supervised variant (trained on pairs or domain ids) do, as LUSR's policy does."""
    model = get_variant(representation).model
    return model.takes_pairs or model.takes_domains


def plan_cells(cfg: ReproduceConfig, out: Path) -> list[Cell]:
    """Every cell of the experiment, in an order that respects their needs."""
    budget = cfg.plan
    # a variant that learns through a frozen teacher (beta_vae_dae, ada_gvae_dae: a DAE) gets the teacher's cell,
    # one for all of them, whether or not the teacher is compared
    teachers = {rep: get_variant(rep).teacher for rep in cfg.methods if rep in ALL_REPRESENTATIONS}
    needed = set(cfg.methods) | {t for t in teachers.values() if t is not None}
    reps = [r for r in ALL_REPRESENTATIONS if r in needed]
    # named only when chosen, so runs planned before it resume; a cell planned under another precision is redone
    precision = {"precision": cfg.precision} if cfg.precision != "auto" else {}
    # the budget's frames, and one more collection for each other ``collect`` a representation's settings name; only
    # those some representation learns on (a run of pixel agents alone collects nothing)
    collects = {rep: budget.vision.get(rep, {}).get("collect", {}) for rep in reps}
    frames_of = {rep: frames_cell(collect) for rep, collect in collects.items()}
    overrides = {frames_of[rep]: collect for rep, collect in collects.items()}
    cells = []
    for name, override in overrides.items():
        # what every representation learning on these frames needs of them (each frame's state drawn in another train
        # domain, the objects' masks)
        carry = {k: v for r in reps if frames_of[r] == name for k, v in frames_carry(r, budget.vision.get(r, {})).items()}
        cells.append(Cell(name, Job.plan("collect", {**budget_frames(budget, cfg.env, cfg.seed, override), "out": str(out / name), **carry}),
                          str(out / name / "manifest.json")))
    vision = {}
    for rep in reps:
        folder = out / "vision" / rep
        teacher_name = teachers.get(rep)
        teacher = str(out / "vision" / teacher_name) if teacher_name else None
        vision[rep] = str(folder)
        settings = dict(budget.vision.get(rep, {}))
        settings.pop("collect", None)
        settings.pop("sample_codes", None)
        lr, steps, augment = settings.pop("lr", None), settings.pop("steps", budget.vision_steps), settings.pop("augment", "none")
        targets = {k: v for k in OPTIONAL_TARGETS if (v := settings.pop(k, None))}
        # the budget's trunk shape applies to the variants built on the trunk
        shape = {k: v for k, v in budget.model.items() if k in {f.name for f in dataclasses.fields(get_variant(rep).config)}}
        cells.append(Cell(f"vision/{rep}", Job.plan("vision", {"variant": rep, "model": {**shape, **settings}, "lr": lr,
                                                      "steps": steps, "seed": cfg.seed, "device": cfg.device,
                                                      # named only when used, so runs planned before it resume
                                                      **({"augment": augment} if augment != "none" else {}),
                                                      **precision,
                                                      **targets,
                                                      "data": str(out / frames_of[rep]), "teacher": teacher, "out": str(folder)}),
                          str(folder / "model.safetensors"), (frames_of[rep],) + ((f"vision/{teacher_name}",) if teacher_name else ()),
                          gpu=resolve_device(cfg.device).type == "cuda"))
        # inspect scores a code against the env's ground truth, which only an env that draws from factors has
        if rep in cfg.methods and envs.draws_from_factors(cfg.env):
            report = out / "inspect" / rep
            cells.append(Cell(f"inspect/{rep}", Job.plan("inspect", {"checkpoint": str(folder), "out": str(report),
                                                            "config": {"env": cfg.env, "seed": cfg.seed, "device": cfg.device,
                                                                       "general": general(rep), **budget.inspect}}),
                              str(report / METRICS_FILE), (f"vision/{rep}",), resumable=False))
    agreement = {"agreement_steps": budget.agreement_steps} if budget.agreement_steps and measurable(cfg.env) else {}
    for protocol in cfg.protocols:
        domains = source_domains(cfg.env, protocol)
        for method in cfg.methods:
            seeds = []
            # drawn codes named only when used, so runs planned before them resume
            drawn = {"sample_codes": True} if budget.vision.get(method, {}).get("sample_codes") else {}
            mode = {"mode": "latent", "vision": vision[method], "general": general(method), **drawn, **precision} if method in vision else {"mode": method}
            # the hyperparameter file's settings are part of the plan: an agent trained under others is redone
            settings = hyperparams(cfg.algo, cfg.env, mode["mode"])
            for k in range(budget.seeds):
                folder = out / "agents" / protocol / method / f"seed{k}"
                seeds.append(str(folder))
                agent = {"env": cfg.env, "domains": list(domains), "algo": cfg.algo, "steps": budget.agent_steps,
                         "seed": cfg.seed + k, "n_envs": budget.n_envs, "device": cfg.device,
                         # the training curve's evaluations cost no more episodes than the final one: a smoke run on an
                         # env of 1,000-step episodes (CarRacing) spent most of its time in them
                         "eval_freq": max(1, budget.agent_steps // 2), "eval_episodes": min(5, budget.episodes),
                         "checkpoint_freq": budget.agent_steps, **mode}
                cells.append(Cell(f"agents/{protocol}/{method}/seed{k}",
                                  Job.plan("agent", {"config": agent, "hyperparams": settings, "out": str(folder)}),
                                  str(folder / "model.zip"), (f"vision/{method}",) if method in vision else (), resumable=False))
            evaluation = out / "eval" / protocol / method
            cells.append(Cell(f"eval/{protocol}/{method}", Job.plan("evaluate",
                              {"config": {"agents": seeds, "domains": [TARGET], "episodes": budget.episodes,
                                          "seed": cfg.seed + 1000, "device": cfg.device, **agreement}, "out": str(evaluation)}),
                              str(evaluation / REPORT_FILE), tuple(f"agents/{protocol}/{method}/seed{k}" for k in range(budget.seeds)),
                              resumable=False))
    return cells


def reproduce(cfg: ReproduceConfig, out: str | Path) -> dict[str, Any]:
    """Run (or continue) the experiment in ``out`` and write its results.

    ``out`` receives ``results.json``, ``results.md`` and ``results.png``, beside a folder per
    stage (``frames``, ``vision``, ``agents``, ``eval``; ``frames_...`` for a representation that the budget
    gives frames of its own) and ``logs`` of the worker processes.

    :param cfg: the experiment.
    :param out: the run folder; rerunning the same command there continues the run.
    :return: the results JSON.
    """
    # a Ray task runs in a folder of Ray's choosing: it is given absolute paths
    out = Path(out).resolve() if cfg.executor == "ray" else Path(out)
    config = dataclasses.asdict(cfg)
    # where and how fast cells run may differ on resume; a chosen precision is in the cells' own arguments
    running = {k: config.pop(k) for k in ("workers", "device", "precision", "executor", "address")}
    record = {"darla_version": __version__, "experiment": {**config, "budget": dataclasses.asdict(cfg.plan)}, "running": running}
    cells = plan_cells(cfg, out)
    probe = envs.make(cfg.env)
    check_action_space(cfg.algo, probe.action_space)
    probe.close()
    # methods and protocols may be added to a run: each cell is reused only where its own arguments match
    claim_run_folder(out, RUN_FILE, record, resume=True,
                     key=tuple(f"experiment.{k}" for k in record["experiment"] if k not in ("methods", "protocols")))
    start, cpu_start = time.perf_counter(), cpu_seconds()
    seconds = run_cells(cells, out, cfg.workers, cfg.executor, cfg.address)
    wall = time.perf_counter() - start
    results = collect_results(out, cfg.protocols, cfg.methods)
    scores = read_scores(out, tuple(m for m in cfg.methods if m in ALL_REPRESENTATIONS and envs.draws_from_factors(cfg.env)))
    report = {
        **record,
        # the times above and below mean little without the machine that took them
        "machine": describe_machine(),
        "wall_seconds_this_run": wall,
        # CPU seconds of this process and its finished workers over what the machine's cores could give
        "cores_busy_share_this_run": (cpu_seconds() - cpu_start) / max(wall * (os.cpu_count() or 1), 1e-9),
        "cell_seconds_this_run": seconds,
        "cell_seconds": finished_cells(cells, out),
        "source_domains": {p: list(source_domains(cfg.env, p)) for p in cfg.protocols},
        "results": {p: {m: [dataclasses.asdict(r) for r in rows] for m, rows in methods.items()} for p, methods in results.items()},
        "disentanglement": scores,
        "invariance": {rep: {k: values[k] for k in INVARIANCE_SCORES if k in values} for rep, values in scores.items()},
    }
    write_json_atomic(out / RESULTS_FILE, report)
    table = results_table(results, scores)
    if scores:
        table += ("\nSame-state invariance of each representation (the same states drawn in two domains; `inspect/<name>/index.md` "
                  "has every pair):\n\n" + scores_table(scores, results, INVARIANCE_SCORES))
        table += "\nDisentanglement of each representation (`inspect/<name>/index.md` has the full report):\n\n" + scores_table(scores, results, HEADLINE_SCORES)
    with atomic_path(out / TABLE_FILE) as tmp:
        tmp.write_text(table)
    budget = cfg.plan
    results_figure(results, out / FIGURE_FILE,
                   f"{cfg.env}, budget {cfg.budget}: {budget.seeds} seed(s) x {budget.episodes} episodes, {budget.agent_steps} agent steps")
    return report

