"""The compiled encoder gives the eager encoder's codes, for any batch size."""

from __future__ import annotations

import torch

from conftest import SMALL
from darla.inference import compiled_encoder
from darla.models import build_model, make_config


def test_compiled_encoder_matches_eager() -> None:
    torch.manual_seed(0)
    model = build_model(make_config("vae", image_size=32, **SMALL))
    encode = compiled_encoder(model)
    for batch in (1, 5, 16):
        x = torch.rand(batch, 3, 32, 32)
        codes = encode(x)
        assert not codes.requires_grad
        assert torch.allclose(codes, model.encode(x), atol=1e-5)
