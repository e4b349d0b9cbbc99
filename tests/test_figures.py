"""The image grids every report draws: each image lands in its own tile, apart from its neighbours."""

import numpy as np
import torch

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
    assert gaps.sum() == mosaic.shape[0] * mosaic.shape[1] - 6 * size * size
    assert (mosaic[gaps] == 1.0).all()
    figure = image_grid([frames, greys], ["frames", "tensors"], ["a", "b", "c"], "grid")
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["frames", "tensors"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
