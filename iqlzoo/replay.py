"""Record one deterministic evaluation episode of an agent as an animated GIF.

The episode runs in the dataset's evaluation environment created with ``render_mode="rgb_array"``: MuJoCo tasks
render offscreen through OpenGL (``MUJOCO_GL=egl`` or ``osmesa`` on a machine without a display), classic-control
tasks through pygame. A machine that cannot render gets :class:`RenderUnavailableError` with the reason and the fix,
never a crash deep inside the renderer.

The policy acts with its mean action (``deterministic=True``) from ``env.reset(seed=seed)``, exactly as
:func:`iqlzoo.evaluate` plays episode 0 with the same ``seed``; rendering does not change the dynamics. Long
episodes keep every k-th frame (at most ``max_frames``) and play back at ``speed`` times real time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
from PIL import Image

from iqlzoo.atomic import atomic_write
from iqlzoo.data.transitions import TransitionDataset
from iqlzoo.evaluation import EVAL_THREADS
from iqlzoo.machine import torch_threads


class RenderUnavailableError(RuntimeError):
    """The environment cannot render frames on this machine; the message says why and what to install or set."""


@dataclass(frozen=True)
class Replay:
    """A recorded episode: the GIF's path, the episode's return, length and success (None: no success signal),
    the reset seed, the number of frames kept (one every ``every`` steps) and the playback speed."""

    path: Path
    episode_return: float
    length: int
    success: bool | None
    seed: int
    n_frames: int
    every: int
    speed: float


def _make_env(dataset: TransitionDataset, width: int, height: int) -> gym.Env:
    """The evaluation environment rendering RGB arrays, at ``width`` x ``height`` where the environment takes a size
    (MuJoCo does; classic control refuses the arguments, so it is made again without them)."""
    try:
        return dataset.make_env(eval_env=True, render_mode="rgb_array", width=width, height=height)
    except Exception:
        return dataset.make_env(eval_env=True, render_mode="rgb_array")


def _frame(env: gym.Env, width: int, height: int, env_id: str) -> np.ndarray:
    """One RGB frame of at most ``width`` x ``height``, or :class:`RenderUnavailableError`."""
    try:
        frame = env.render()
    except Exception as error:  # the renderer's own errors differ per backend (GL, EGL, pygame)
        raise RenderUnavailableError(_advice(env_id, error)) from None
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        raise RenderUnavailableError(f"{env_id} rendered {type(frame).__name__}, not an RGB array (H, W, 3)")
    if frame.shape[0] > height or frame.shape[1] > width:
        scale = min(height / frame.shape[0], width / frame.shape[1])
        size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
        frame = np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))
    return np.ascontiguousarray(frame, dtype=np.uint8)


def _advice(env_id: str, error: BaseException) -> str:
    """Why ``env_id`` cannot render, and what to install or set."""
    lines = str(error).strip().splitlines()
    reason = f"{type(error).__name__}: {lines[0] if lines else ''}"
    if isinstance(error, gym.error.DependencyNotInstalled):  # its message names the package to install
        return f"cannot render {env_id} on this machine ({reason})"
    return (
        f"cannot render {env_id} offscreen on this machine ({reason}). MuJoCo environments render through OpenGL: "
        f"set MUJOCO_GL=egl (or osmesa) before starting Python (MUJOCO_GL is {os.environ.get('MUJOCO_GL', 'unset')})"
    )


def record_replay(
    model: Any,
    dataset: TransitionDataset,
    path: str | os.PathLike[str],
    *,
    seed: int,
    max_frames: int = 150,
    width: int = 320,
    height: int = 240,
    speed: float = 2.0,
) -> Replay:
    """Play one episode with ``model.predict(obs, deterministic=True)`` from ``reset(seed=seed)`` and write it to
    ``path`` as a looping GIF (atomically and durably, :func:`iqlzoo.atomic.atomic_write`).

    Raises:
        RenderUnavailableError: the environment cannot render here; nothing is written.
    """
    if max_frames < 2 or speed <= 0:
        raise ValueError(f"need max_frames >= 2 and speed > 0, got {max_frames=}, {speed=}")
    spec = dataset.eval_env_spec or dataset.env_spec
    env_id = getattr(spec, "id", None) or "the environment"
    try:
        env = _make_env(dataset, width, height)
    except Exception as error:  # creating a rendering env can fail where a plain one works (display, GL)
        raise RenderUnavailableError(_advice(env_id, error)) from None
    try:
        with torch_threads(EVAL_THREADS):  # as evaluate(): the episode a card's re-evaluation plays
            max_steps = getattr(env.spec, "max_episode_steps", None) or max_frames
            every = max(1, math.ceil(max_steps / (max_frames - 1)))
            obs, _ = env.reset(seed=seed)
            frames = [_frame(env, width, height, env_id)]
            total, length, success, done = 0.0, 0, None, False
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                length += 1
                if "success" in info:
                    success = bool(success) or bool(info["success"])
                done = terminated or truncated
                if (length % every == 0 or done) and len(frames) < max_frames:
                    frames.append(_frame(env, width, height, env_id))
            dt = float(getattr(env.unwrapped, "dt", 0.05))
    finally:
        env.close()
    duration_ms = max(20, round(1000 * every * dt / speed))
    data = iio.imwrite("<bytes>", np.stack(frames), extension=".gif", duration=duration_ms, loop=0)
    path = atomic_write(Path(path), lambda handle: handle.write(data))
    return Replay(path, total, length, success, seed, len(frames), every, speed)
