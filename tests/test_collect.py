"""Frame collection: shards with factors and domain ids, a manifest, resumable, loadable by pretrain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import envs
from darla.cli import main
from darla.collect import CollectConfig, collect
from darla.errors import DarlaError
from darla.frames import FrameDataset
from conftest import SMALL_FLAGS, assert_one_line_error


def test_collect_writes_shards_and_manifest(tmp_path: Path) -> None:
    cfg = CollectConfig(domains=("train",), frames=1100, shard_size=500, seed=1)
    collect(cfg, tmp_path / "c")
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["frames"] == 1100 and [s["frames"] for s in manifest["shards"]] == [500, 500, 100]
    assert [d["name"] for d in manifest["domains"]] == ["A_default", "B_default", "B_alternate"]
    shard = np.load(tmp_path / "c" / "shard_00000.npz")
    assert shard["frames"].shape == (500, 64, 64, 3) and shard["frames"].dtype == np.uint8
    assert shard["factors"].shape == (500, len(manifest["factor_names"]))
    shards = [np.load(tmp_path / "c" / s["file"]) for s in manifest["shards"]]
    domain = np.concatenate([s["domain"] for s in shards])
    factors = np.concatenate([s["factors"] for s in shards])
    assert set(np.unique(domain)) == {0, 1, 2}, "a domain is drawn per episode"
    # the domain id agrees with the domain factors recorded beside each frame
    look = [manifest["factor_names"].index(name) for name in ("wall_colour", "object_set")]
    assert all(len({tuple(f) for f in factors[domain == d][:, look]}) == 1 for d in range(3))
    assert FrameDataset(tmp_path / "c").frame_shape == (64, 64, 3)


def test_interrupted_collection_resumes_to_the_same_data(tmp_path: Path) -> None:
    cfg = CollectConfig(domains=("A_default",), frames=900, shard_size=300, seed=2)
    collect(cfg, tmp_path / "whole")
    collect(cfg, tmp_path / "cut")
    (tmp_path / "cut" / "shard_00001.npz").unlink()
    (tmp_path / "cut" / "manifest.json").unlink()
    kept = (tmp_path / "cut" / "shard_00000.npz").stat().st_mtime_ns
    collect(cfg, tmp_path / "cut")
    assert (tmp_path / "cut" / "shard_00000.npz").stat().st_mtime_ns == kept, "finished shards are not rewritten"
    for i in range(3):
        a, b = (np.load(tmp_path / run / f"shard_{i:05d}.npz") for run in ("whole", "cut"))
        assert np.array_equal(a["frames"], b["frames"]) and np.array_equal(a["factors"], b["factors"])
    whole = json.loads((tmp_path / "whole" / "manifest.json").read_text())["shards"]
    assert json.loads((tmp_path / "cut" / "manifest.json").read_text())["shards"] == whole


def test_parallel_workers_give_the_same_shards(tmp_path: Path) -> None:
    one = CollectConfig(frames=400, shard_size=200, seed=3)
    two = CollectConfig(frames=400, shard_size=200, seed=3, workers=2)
    collect(one, tmp_path / "one")
    collect(two, tmp_path / "two")
    for i in range(2):
        assert np.array_equal(np.load(tmp_path / "one" / f"shard_{i:05d}.npz")["frames"],
                              np.load(tmp_path / "two" / f"shard_{i:05d}.npz")["frames"])


def test_collected_frames_pretrain(tmp_path: Path, capsys) -> None:
    assert main(["collect", "--domain", "train", "--domain", "target", "--frames", "300", "--shard-size", "150",
                 "--out", str(tmp_path / "frames")]) == 0
    assert "outputs in" in capsys.readouterr().out
    assert main(["pretrain", "--model", "vae", "--data", str(tmp_path / "frames"), "--out", str(tmp_path / "vae"),
                 "--steps", "3", "--batch-size", "8", "--device", "cpu", "--no-figures", *SMALL_FLAGS]) == 0
    config = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert config["model"]["image_size"] == 64 and config["data"]["frames"] == 300


def test_changed_settings_are_refused(tmp_path: Path, capsys) -> None:
    collect(CollectConfig(frames=50, shard_size=50), tmp_path / "c")
    code = main(["collect", "--frames", "60", "--shard-size", "50", "--out", str(tmp_path / "c")])
    assert_one_line_error(code, capsys.readouterr().err, "other settings (frames)")


def test_a_generic_env_collects_in_its_shifted_looks_but_draws_no_pairs(tmp_path: Path, capsys) -> None:
    assert main(["collect", "--env", "CartPole-v1", "--domain", "train", "--frames", "300", "--shard-size", "300",
                 "--policy", "resets", "--out", str(tmp_path / "c")]) == 0
    with np.load(tmp_path / "c" / "shard_00000.npz") as shard:
        counts = np.bincount(shard["domain"], minlength=3)
    # every frame starts an episode, each in one of the train group's three looks
    assert counts.sum() == 300 and counts.min() > 60, counts
    code = main(["collect", "--env", "CartPole-v1", "--domain", "train", "--pairs", "1", "--frames", "5", "--out", str(tmp_path / "p")])
    assert_one_line_error(code, capsys.readouterr().err, "CartPole-v1 cannot draw a state in another domain")


def test_generic_pixel_env_collects(tmp_path: Path) -> None:
    collect(CollectConfig(env="CartPole-v1", frames=120, shard_size=60), tmp_path / "c")
    shard = np.load(tmp_path / "c" / "shard_00000.npz")
    assert shard["frames"].shape == (60, 64, 64, 3) and shard["factors"].shape == (60, 0)
    assert len({f.tobytes() for f in shard["frames"]}) > 30


@pytest.mark.parametrize("bad", [{"frames": 0}, {"workers": 0}])
def test_bad_collect_settings(bad: dict) -> None:
    with pytest.raises(DarlaError, match="must be at least 1"):
        CollectConfig(**bad)


def test_resets_show_objects_more_often_than_a_random_walk(tmp_path: Path) -> None:
    shares = {}
    for policy in ("random", "resets", "mixed"):
        collect(CollectConfig(domains=("train",), frames=1000, policy=policy, seed=3), tmp_path / policy)
        shares[policy] = json.loads((tmp_path / policy / "collect.json").read_text())["object_in_view_share"]
        manifest = json.loads((tmp_path / policy / "manifest.json").read_text())
        assert manifest["object_in_view_share"] == shares[policy]
    # measured: 0.20 along random-policy episodes, 0.51 at episode starts
    assert shares["resets"] > shares["random"] + 0.15, shares
    # half of each shard of either kind: the share lies between, and only the second half walks
    assert shares["random"] < shares["mixed"] < shares["resets"] - 0.1, shares
    # the walk's wall close-ups: the wall ahead nearer than 0.5 (room side 8), never at a fresh start
    env = envs.make("darla/SeekAvoid2D-v0", ("train",))
    close = env.unwrapped.wall_ahead(np.load(tmp_path / "mixed" / "shard_00000.npz")["factors"][:, :27]) < 0.5
    env.close()
    assert close[:500].mean() == 0 and close[500:].mean() > 0.2, (close[:500].mean(), close[500:].mean())
    # every reset frame starts with all six objects in place
    factors = np.load(tmp_path / "resets" / "shard_00000.npz")["factors"]
    assert (factors[:, 6:27:4] == 1).all()
    # the run record keeps its config apart, so a rerun continues instead of refusing itself
    collect(CollectConfig(domains=("train",), frames=1000, policy="resets", seed=3), tmp_path / "resets")


def test_pairs_are_the_same_state_in_another_domain_of_the_set(tmp_path: Path) -> None:
    import envs

    collect(CollectConfig(domains=("train",), frames=200, pairs=2, policy="resets", seed=4), tmp_path / "p")
    shard = np.load(tmp_path / "p" / "shard_00000.npz")
    frames, factors, domain = shard["frames"], shard["factors"], shard["domain"]
    pairs, pair_domain = shard["pair_frames"], shard["pair_domain"]
    assert pairs.shape == (200, 2, 64, 64, 3) and pair_domain.shape == (200, 2)
    # never the frame's own domain, never twice the same, never outside the three of the set
    assert (pair_domain != domain[:, None]).all() and (pair_domain[:, 0] != pair_domain[:, 1]).all()
    assert set(np.unique(domain)) == set(np.unique(pair_domain)) == {0, 1, 2}
    env = envs.make("darla/SeekAvoid2D-v0", ("train",)).unwrapped
    n_task = len(factors[0]) - len(env.domains[0].factors())
    for i in (0, 57, 199):
        # the pair is the recorded state drawn in the paired domain; in its own domain it is the frame itself
        again = env.render_factors(np.concatenate([factors[i, :n_task], env.domains[pair_domain[i, 1]].factors()]))
        np.testing.assert_array_equal(again, pairs[i, 1])
        np.testing.assert_array_equal(env.render_factors(factors[i]), frames[i])
    assert FrameDataset(tmp_path / "p", pairs=True).get_pairs(np.array([3, 1]), seed=0)[1].shape == (2, 64, 64, 3)
    with pytest.raises(DarlaError, match="opened without pairs"):
        FrameDataset(tmp_path / "p").get_pairs(np.array([0]), seed=0)


def test_renders_in_one_domain_are_each_states_draw_there(tmp_path: Path) -> None:
    collect(CollectConfig(domains=("train",), frames=200, pairs=2, masks=True, policy="resets", seed=5), tmp_path / "p")
    frames = FrameDataset(tmp_path / "p", pairs=True, domains=True, masks=True)
    columns = frames.render_columns("B_default")
    shard = np.load(tmp_path / "p" / "shard_00000.npz")
    env = envs.make("darla/SeekAvoid2D-v0", ("train",)).unwrapped
    wanted = [d.name for d in env.domains].index("B_default")
    # a frame drawn in B_default is its own render there; the others take the paired render drawn there
    assert ((columns == -1) == (shard["domain"] == wanted)).all() and 0 < (columns == -1).sum() < 200
    n_task = len(shard["factors"][0]) - len(env.domains[0].factors())
    index = np.array([150, 3, 77, 199])
    renders, masks = frames.get_renders(index, columns), frames.get_renders(index, columns, masks=True)
    for row, i in enumerate(np.sort(index)):
        state = np.concatenate([shard["factors"][i, :n_task], env.domains[wanted].factors()])
        np.testing.assert_array_equal(renders[row], env.render_factors(state))
        np.testing.assert_array_equal(masks[row], env.object_masks(state[None])[0])
    with pytest.raises(DarlaError, match="collected in A_default, B_default, B_alternate, not 'A_alternate': name one of its domains"):
        frames.render_columns("A_alternate")
    collect(CollectConfig(domains=("train",), frames=30, pairs=1, policy="resets", seed=5), tmp_path / "one")
    with pytest.raises(DarlaError, match=r"of 30 frames in .* have no render in B_default: collect them with --pairs 2"):
        FrameDataset(tmp_path / "one", pairs=True, domains=True).render_columns("B_default")
    with pytest.raises(DarlaError, match="opened without domain ids and pairs"):
        FrameDataset(tmp_path / "one").render_columns("B_default")


def test_pairs_need_domains_to_pair_with(tmp_path: Path) -> None:
    with pytest.raises(DarlaError, match="needs at least 3 domains"):
        collect(CollectConfig(domains=("A_default", "B_default"), frames=10, pairs=2), tmp_path / "few")
    with pytest.raises(DarlaError, match="cannot draw a state in another domain"):
        collect(CollectConfig(env="CartPole-v1", frames=10, pairs=1), tmp_path / "cartpole")
    assert not (tmp_path / "few").exists() and not (tmp_path / "cartpole").exists()
    with pytest.raises(DarlaError, match="unknown policy"):
        CollectConfig(policy="greedy")
    collect(CollectConfig(domains=("train",), frames=10), tmp_path / "unpaired")
    with pytest.raises(DarlaError, match="holds no 'pair_frames' array"):
        FrameDataset(tmp_path / "unpaired", pairs=True)


def test_object_masks_are_where_the_objects_are_drawn(tmp_path: Path, capsys) -> None:
    collect(CollectConfig(domains=("train",), frames=200, pairs=1, masks=True, policy="resets", seed=6), tmp_path / "m")
    shard = np.load(tmp_path / "m" / "shard_00000.npz")
    frames, factors, masks, pair_masks = shard["frames"], shard["factors"], shard["object_mask"], shard["pair_object_mask"]
    assert masks.shape == (200, 64, 64) and pair_masks.shape == (200, 1, 64, 64) and masks.dtype == bool
    env = envs.make("darla/SeekAvoid2D-v0", ("train",)).unwrapped
    n_task = len(factors[0]) - len(env.domains[0].factors())
    for i in (0, 77, 199):
        # the mask is every pixel that changes when the objects are taken out of the recorded state
        empty = env.render_factors(env.without_objects(factors[i]))
        np.testing.assert_array_equal(masks[i], (frames[i] != empty).any(axis=-1))
        paired = np.concatenate([factors[i, :n_task], env.domains[shard["pair_domain"][i, 0]].factors()])
        np.testing.assert_array_equal(pair_masks[i, 0], env.object_masks(paired[None])[0])
    # objects are small: a few percent of a frame whose view holds an object's centre; without one, only the
    # edges of objects beside the view
    area = masks.mean(axis=(1, 2))
    assert 0.005 < area[shard["in_view"]].mean() < 0.2, area[shard["in_view"]].mean()
    assert area[~shard["in_view"]].mean() < area[shard["in_view"]].mean() / 4, (area[~shard["in_view"]].mean(), area[shard["in_view"]].mean())
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["masks"] is True and manifest["object_pixel_share"] == pytest.approx(area.mean())
    data = FrameDataset(tmp_path / "m", pairs=True, masks=True)
    np.testing.assert_array_equal(data.get_masks(np.array([5, 2])), masks[[2, 5]])
    # the pair masks follow the paired renders get_pairs draws with the same seed
    _, pairs = data.get_pairs(np.array([9, 4]), seed=3)
    np.testing.assert_array_equal(pairs, shard["pair_frames"][[4, 9], 0])
    np.testing.assert_array_equal(data.get_pair_masks(np.array([9, 4]), seed=3), pair_masks[[4, 9], 0])
    collect(CollectConfig(domains=("train",), frames=10), tmp_path / "plain")
    with pytest.raises(DarlaError, match="holds no 'object_mask' array: collect the frames with darla collect --masks"):
        FrameDataset(tmp_path / "plain", masks=True)
    code = main(["collect", "--env", "CartPole-v1", "--masks", "--frames", "5", "--out", str(tmp_path / "cartpole")])
    assert_one_line_error(code, capsys.readouterr().err, "CartPole-v1 cannot take its objects out of a frame")
    assert not (tmp_path / "cartpole").exists()
