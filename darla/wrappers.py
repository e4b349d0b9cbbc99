"""Latent observations: a frozen vision model between an env's frames and the agent.

``LatentObservation`` wraps one Gymnasium env; ``VecLatentObservation`` wraps a
stable-baselines3 VecEnv and encodes every sub-env's frame in one batch per step (in the
main process, so CUDA is never touched by forked workers). Both can stack the last k codes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from darla.checkpoint import load_vision
from darla.device import resolve_precision
from darla.errors import DarlaError, require_positive
from darla.models import VisionModel, frames_to_tensor
from darla.models.base import TrunkModel, check_general

#: codes are clipped to +-CODE_BOUND, so the observation space has finite bounds
CODE_BOUND = 1000.0
#: frames per forward pass when many are encoded at once: a FrameEncoder in float32 encoded 4,096 frames at
#: 128 a pass 1.9x as fast as at 512 on a 2-core Intel Xeon, whose caches hold the smaller batch's
#: activations (``frame_encoder`` in benchmarks/results/vision_cpu.json)
ENCODE_BATCH = 128


class FrameEncoder:
    """A frozen vision model checked against an env's frames: uint8 frames in, codes out.

    :param vision: a checkpoint folder or a loaded model; it is frozen and put in eval mode.
    :param frame_space: the env's observation space (uint8 frames (H, W, C)).
    :param resize: resize frames of another size to the model's, instead of refusing them.
    :param device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; ignored for a loaded model.
    :param general: give only the model's domain-general latents (LUSR's policy input), for a
        variant trained on pairs.
    :param precision: ``"auto"`` (bfloat16 on a CPU that computes it in hardware, through a bfloat16 copy of the
        weights on DARLA's trunk and autocast on other encoders; codes
        within 1% of a latent's spread of float32's; with the env's own steps, 1.35x float32's steps/s at 16
        envs on the AMX Intel Xeon of ``benchmarks/results/agents.json``), ``"bf16"`` or ``"fp32"``.
    :param batch: frames per forward pass when more are encoded at once.
    :param sample: codes drawn from the model's posterior q(z|x) instead of its means (a VAE's): an agent trained on
        them learns to lean on the latents the model is sure of; None leaves them the means, an int seeds the draws.
    """

    def __init__(self, vision: str | Path | VisionModel, frame_space: gym.Space, resize: bool = False, device: str = "auto",
                 general: bool = False, precision: str = "auto", batch: int = ENCODE_BATCH, sample: int | None = None) -> None:
        self.batch = batch
        require_positive(self, "batch")
        model = vision if isinstance(vision, VisionModel) else load_vision(vision, device=device)
        if sample is not None and not model.has_posterior:
            raise DarlaError(f"the vision model ({model.config.variant}) has no posterior to draw codes from: give the agent the "
                             "codes' means (leave out --sample-codes), or train a VAE")
        self._generator = None if sample is None else torch.Generator(model.device).manual_seed(sample)
        self.bf16 = resolve_precision(precision, model.device) == "bf16"
        self.model = model.eval().requires_grad_(False)
        # on DARLA's conv trunk a bfloat16 copy of the weights gives autocast's codes bit for bit, without casting
        # every weight again on each pass (1.13x the frames/s at 16 frames a pass on the AMX Intel Xeon)
        self._bf16_model = copy.deepcopy(self.model).to(torch.bfloat16) if self.bf16 and isinstance(model, TrunkModel) else None
        cfg = model.config
        expected = (cfg.image_size, cfg.image_size, cfg.channels)
        shape = getattr(frame_space, "shape", None)
        if not isinstance(frame_space, gym.spaces.Box) or frame_space.dtype != np.uint8 or len(shape or ()) != 3:
            raise DarlaError(
                f"the env's observations are {frame_space}, not uint8 frames (H, W, C): wrap a pixel env "
                "(e.g. envs.pixels.make_pixel_env) before the vision model"
            )
        if shape[2] != cfg.channels:
            raise DarlaError(f"the env's frames have {shape[2]} channels but the vision model takes {cfg.channels}: pretrain on this env's frames")
        if shape != expected and not resize:
            raise DarlaError(
                f"the env's frames are {shape[0]}x{shape[1]}x{shape[2]} but the vision model was trained on "
                f"{expected[0]}x{expected[1]}x{expected[2]}: pass resize=True, or pretrain on this env's frames"
            )
        self.resize = shape != expected
        if general:
            check_general(cfg)
        self.general = general
        self.latent_dim = len(cfg.general_latents) if general else model.latent_dim

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Codes (N, latent_dim) float32 of uint8 frames (N, H, W, C), ``batch`` frames per forward pass."""
        return np.concatenate([self._encode(frames[i : i + self.batch]) for i in range(0, max(len(frames), 1), self.batch)])

    @torch.inference_mode()
    def _encode(self, frames: np.ndarray) -> np.ndarray:
        x = frames_to_tensor(frames, self.model.device)
        if self.resize:
            x = F.interpolate(x, size=(self.model.config.image_size,) * 2, mode="area")
        if self._bf16_model is not None:
            codes = self._code(self._bf16_model, x.to(torch.bfloat16))
        else:
            with torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                codes = self._code(self.model, x)
        if self.general:
            codes = self.model.general_part(codes)
        codes = codes.float().clamp_(-CODE_BOUND, CODE_BOUND)
        return codes.cpu().numpy()

    def _code(self, model: VisionModel, x: torch.Tensor) -> torch.Tensor:
        return model.encode(x) if self._generator is None else model.sample_code(x, self._generator)

    def space(self, stack: int) -> gym.spaces.Box:
        """Observation space of ``stack`` stacked codes."""
        return gym.spaces.Box(-CODE_BOUND, CODE_BOUND, (stack * self.latent_dim,), np.float32)


class CodeStack:
    """The last ``k`` codes of each of ``n`` envs, newest last, flattened per env."""

    def __init__(self, n: int, k: int, latent_dim: int) -> None:
        if k < 1:
            raise DarlaError(f"stack must be at least 1, got {k}")
        self.codes = np.zeros((n, k, latent_dim), np.float32)

    def reset(self, codes: np.ndarray, which: np.ndarray | slice = slice(None)) -> None:
        """Fill the stacks of envs ``which`` with their first code."""
        self.codes[which] = codes[:, None, :]

    def push(self, codes: np.ndarray) -> None:
        """Append one code per env, dropping the oldest."""
        self.codes = np.roll(self.codes, -1, axis=1)
        self.codes[:, -1] = codes

    def get(self) -> np.ndarray:
        """(n, k * latent_dim) observations."""
        return self.codes.reshape(len(self.codes), -1).copy()


class LatentObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Replace each frame by the frozen vision model's code (the latent means, for VAEs).

    :param env: an env with uint8 frame observations.
    :param vision: a checkpoint folder or a loaded model.
    :param resize: resize frames whose size differs from the model's.
    :param stack: observe the last ``stack`` codes (velocity information).
    :param device: where the model runs: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param general: observe only the model's domain-general latents.
    :param precision: ``"auto"``, ``"bf16"`` or ``"fp32"``: what the encoder computes in (:class:`FrameEncoder`).
    :param sample: the seed of codes drawn from the model's posterior instead of its means, for training; None: means.
    """

    def __init__(
        self,
        env: gym.Env,
        vision: str | Path | VisionModel,
        resize: bool = False,
        stack: int = 1,
        device: str = "auto",
        general: bool = False,
        precision: str = "auto",
        sample: int | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, vision=vision, resize=resize, stack=stack, device=device, general=general,
                                                 precision=precision, sample=sample)
        gym.ObservationWrapper.__init__(self, env)
        self.encoder = FrameEncoder(vision, env.observation_space, resize, device, general, precision, sample=sample)
        self.stack = CodeStack(1, stack, self.encoder.latent_dim)
        self.observation_space = self.encoder.space(stack)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the env and fill the stack with the first code."""
        frame, info = self.env.reset(**kwargs)
        self.stack.reset(self.encoder(frame[None]))
        return self.stack.get()[0], info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The stacked codes after this frame."""
        self.stack.push(self.encoder(observation[None]))
        return self.stack.get()[0]


class VecLatentObservation(VecEnvWrapper):
    """Encode all sub-envs' frames in one batch per step, terminal observations included.

    :param venv: a VecEnv with uint8 frame observations.
    :param vision: a checkpoint folder or a loaded model.
    :param resize: resize frames whose size differs from the model's.
    :param stack: observe the last ``stack`` codes.
    :param device: where the model runs: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    :param general: observe only the model's domain-general latents.
    :param precision: ``"auto"``, ``"bf16"`` or ``"fp32"``: what the encoder computes in (:class:`FrameEncoder`).
    :param sample: the seed of codes drawn from the model's posterior instead of its means, for training; None: means.
    """

    def __init__(
        self,
        venv: VecEnv,
        vision: str | Path | VisionModel,
        resize: bool = False,
        stack: int = 1,
        device: str = "auto",
        general: bool = False,
        precision: str = "auto",
        sample: int | None = None,
    ) -> None:
        self.encoder = FrameEncoder(vision, venv.observation_space, resize, device, general, precision, sample=sample)
        self.stack = CodeStack(venv.num_envs, stack, self.encoder.latent_dim)
        super().__init__(venv, observation_space=self.encoder.space(stack))

    def reset(self) -> np.ndarray:
        """Reset every sub-env and fill the stacks."""
        self.stack.reset(self.encoder(self.venv.reset()))
        return self.stack.get()

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step, then encode the new frames and the terminal frames of finished episodes together."""
        frames, rewards, dones, infos = self.venv.step_wait()
        ended = [i for i, info in enumerate(infos) if "terminal_observation" in info]
        batch = np.concatenate([frames, np.stack([infos[i]["terminal_observation"] for i in ended])]) if ended else frames
        codes = self.encoder(batch)
        before = self.stack.get()
        self.stack.push(codes[: self.num_envs])
        for j, i in enumerate(ended):
            # the terminal frame ends the episode's own stack; the new frame starts a fresh one
            infos[i]["terminal_observation"] = np.concatenate([before[i, self.encoder.latent_dim :], codes[self.num_envs + j]])
        if ended:
            self.stack.reset(codes[ended], np.array(ended))
        return self.stack.get(), rewards, dones, infos
