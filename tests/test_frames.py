"""Frame folders: memory-mapped shards, correct indexing across shards, a stable manifest hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from darla.errors import DarlaError
from darla.frames import FrameDataset
from darla.synthetic import FACTOR_NAMES, make_rooms, render_rooms


def test_shards_are_memory_mapped_and_indexed_as_one(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(50, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", frames[:20])
    np.savez(tmp_path / "b.npz", frames=frames[20:35], factors=np.zeros((15, 2)))
    np.savez_compressed(tmp_path / "c.npz", frames=frames[35:])
    (tmp_path / "notes.txt").write_text("ignored")
    data = FrameDataset(tmp_path)
    assert len(data) == 50 and data.image_size == 16 and data.channels == 3
    assert isinstance(data.shards[0], np.memmap) and isinstance(data.shards[1], np.memmap)
    idx = np.array([49, 0, 19, 20, 34, 35, 7])
    assert np.array_equal(data.get(idx), frames[np.sort(idx)])


def test_manifest_hash_tracks_the_data(tmp_path: Path) -> None:
    frames, _ = make_rooms(30, image_size=16)
    np.save(tmp_path / "a.npy", frames)
    first = FrameDataset(tmp_path).manifest_hash()
    assert FrameDataset(tmp_path).manifest_hash() == first
    np.save(tmp_path / "b.npy", frames[:5])
    assert FrameDataset(tmp_path).manifest_hash() != first


def test_pixel_twins_are_the_nearest_unlike_frames_and_fill_a_share_of_the_batch(tmp_path: Path) -> None:
    from darla.train import batch_indices

    # a white 8-pixel square at 40 places along a row, shuffled into two shards; one place drawn twice
    place = np.random.default_rng(0).permutation(np.r_[np.arange(40), 7])
    frames = np.zeros((len(place), 64, 64, 3), np.uint8)
    for i, x in enumerate(place):
        frames[i, 20:28, x : x + 8] = 255
    np.save(tmp_path / "a.npy", frames[:25])
    np.save(tmp_path / "b.npy", frames[25:])
    twins = FrameDataset(tmp_path).pixel_twins()
    # the twin is the square one place over (the same place drawn twice is alike, never a twin)
    gap = np.abs(place[twins] - place)
    assert gap.min() == 1 and gap.max() == 1, gap
    # a quarter of each batch: the twins of its first frames, the rest drawn as before
    plain = batch_indices(3, 5, len(place), 16)
    mixed = batch_indices(3, 5, len(place), 16, twins, 0.25)
    drawn = np.random.default_rng([3, 5]).integers(0, len(place), size=16)
    assert np.array_equal(plain, np.sort(drawn))
    assert np.array_equal(mixed, np.sort(np.r_[drawn[:12], twins[drawn[:4]]]))


def test_rooms_render_their_factors() -> None:
    frames, factors = make_rooms(64, image_size=32, seed=1)
    assert frames.shape == (64, 32, 32, 3) and factors.shape == (64, len(FACTOR_NAMES))
    assert np.array_equal(render_rooms(factors, 32), frames)
    moved = factors.copy()
    moved[:, 3] = np.clip(moved[:, 3] + 0.2, 0, 1)
    assert not np.array_equal(render_rooms(moved, 32), frames)
    recoloured = factors.copy()
    recoloured[:, 0] = (recoloured[:, 0] + 1) % 3
    changed = (render_rooms(recoloured, 32) != frames).any(-1)
    assert changed[:, :10].mean() > 0.5 and changed[:, 20:].mean() < 0.05, "the wall colour changes only the wall"


def test_a_shard_whose_header_claims_more_frames_than_it_stores_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(40, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "shard.npz", frames=frames, factors=np.zeros((40, 2), np.float32))
    raw = (tmp_path / "shard.npz").read_bytes()
    assert raw.count(b"(40, 8, 8, 3)") == 1
    (tmp_path / "shard.npz").write_bytes(raw.replace(b"(40, 8, 8, 3)", b"(41, 8, 8, 3)"))
    with pytest.raises(DarlaError, match=r"says \(41, 8, 8, 3\) uint8, more than the 7680 bytes stored"):
        FrameDataset(tmp_path)


@pytest.mark.parametrize("pair_domain_shape", [(7, 2), (8,), (8, 3)])
def test_pair_domain_ids_that_do_not_match_the_paired_renders_are_refused_in_one_line(tmp_path: Path, pair_domain_shape: tuple) -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(8, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", frames=frames, domain=np.zeros(8, np.int16),
             pair_frames=np.zeros((8, 2, 8, 8, 3), np.uint8), pair_domain=np.ones(pair_domain_shape, np.int16))
    with pytest.raises(DarlaError, match=rf"'pair_domain' must hold the domain id of each of its \(8, 2\) 'pair_frames', got shape"):
        FrameDataset(tmp_path, pairs=True, domains=True)
    np.savez(tmp_path / "a.npz", frames=frames, domain=np.zeros(8, np.int16),
             pair_frames=np.zeros((8, 2, 8, 8, 3), np.uint8), pair_domain=np.ones((8, 2), np.int16))
    assert FrameDataset(tmp_path, pairs=True, domains=True).pair_domain_ids.shape == (8, 2)


def test_shards_that_disagree_on_the_pairs_per_frame_are_refused_in_one_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name, count in (("a", 2), ("b", 1)):
        np.savez(tmp_path / f"{name}.npz", frames=rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8),
                 pair_frames=rng.integers(0, 256, size=(4, count, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(DarlaError, match=r"shards disagree on the paired renders per frame \[1, 2\]; keep one --pairs per folder"):
        FrameDataset(tmp_path, pairs=True)
