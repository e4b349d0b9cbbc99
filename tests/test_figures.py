"""The image grids every report draws: each image lands in its own tile, apart from its neighbours."""

import numpy as np
import pytest
import torch

from darla.errors import DarlaError
from darla.figures import GRID_GAP, image_grid, image_mosaic


def test_image_mosaic_puts_each_image_in_its_tile_and_white_between() -> None:
    size = 5
    # row 0: uint8 frames of one colour each; row 1: one-channel model tensors, drawn grey
    frames = [np.full((size, size, 3), (40 * c, 100, 250 - 40 * c), np.uint8) for c in range(3)]
    greys = [torch.full((1, size, size), 0.1 * (c + 1)) for c in range(3)]
    mosaic = image_mosaic([frames, greys])
    pitch = size + GRID_GAP
    assert mosaic.shape == (2 * pitch - GRID_GAP, 3 * pitch - GRID_GAP, 3)
    for c in range(3):
        tile = mosaic[:size, c * pitch : c * pitch + size]
        np.testing.assert_allclose(tile, np.broadcast_to(frames[c] / 255.0, tile.shape), atol=1e-6)
        grey = mosaic[pitch : pitch + size, c * pitch : c * pitch + size]
        np.testing.assert_allclose(grey, 0.1 * (c + 1), atol=1e-6)
    gaps = np.ones(mosaic.shape[:2], bool)
    for r in range(2):
        for c in range(3):
            gaps[r * pitch : r * pitch + size, c * pitch : c * pitch + size] = False
    assert (mosaic[gaps] == 1.0).all()
    # each label at the centre of its row's or column's tile; without column labels, no ticks along the top
    centres = [(size - 1) / 2 + k * pitch for k in range(3)]
    (ax,) = image_grid([frames, greys], ["frames", "tensors"], ["a", "b", "c"], "grid").axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["frames", "tensors"] and list(ax.get_yticks()) == centres[:2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"] and list(ax.get_xticks()) == centres
    (ax,) = image_grid([frames, greys], ["frames", "tensors"], [], "grid").axes
    assert len(ax.get_xticks()) == 0


def test_image_grid_refuses_images_of_other_sizes_in_one_line() -> None:
    frames = [np.zeros((5, 5, 3), np.uint8), np.zeros((6, 5, 3), np.uint8)]
    with pytest.raises(DarlaError, match="images of 5x5 pixels"):
        image_mosaic([frames])
    with pytest.raises(DarlaError, match="rows of 2 images"):
        image_mosaic([frames[:1] * 2, frames[:1]])
