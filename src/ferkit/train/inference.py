"""Running a PyTorch expression model on dataset crops, with test-time augmentation.

The one prediction path of the training package: validation during training,
``ferkit evaluate`` on a checkpoint and the export's parity checks all go
through :func:`predict_logits`, so "flip" means the same everywhere.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferkit.errors import UsageError
from ferkit.progress import progress_bar

from .augment import augment_batch, get_augment
from .config import TTA_MODES, TrainConfig


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CPUs, fp16 on CUDA, or none."""
    if not enabled:
        return torch.autocast(device.type, enabled=False)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", dtype=torch.bfloat16)


def images_to_tensor(images: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 ``(N,H,W)`` or ``(N,H,W,3)`` to uint8 ``(N,C,H,W)`` with ``channels`` channels."""
    t = torch.from_numpy(np.ascontiguousarray(images))
    t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
    if t.shape[1] == channels:
        return t.contiguous()
    if channels == 3:
        return t.expand(-1, 3, -1, -1).contiguous()
    # RGB -> gray with ITU-R BT.601 weights, as OpenCV does.
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (t.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def model_images(images: np.ndarray, cfg: TrainConfig) -> torch.Tensor:
    """A dataset's uint8 images as the model's uint8 ``(N, C, image_size, image_size)``."""
    x = images_to_tensor(images, cfg.channels)
    if x.shape[-1] != cfg.image_size:
        x = F.interpolate(x.float(), size=cfg.image_size, mode="area").round().byte()
    return x


def normalize(x: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    return (x - cfg.mean) / cfg.std


def tta_views(x: torch.Tensor, cfg: TrainConfig, tta: str) -> list[torch.Tensor]:
    """The crops a TTA mode averages over (before mirroring), from ``[0, 1]`` images.

    ``none`` and ``flip``: the centre crop to ``input_size`` (as validation does);
    ``ten-crop``: the four corner crops and the centre crop.
    """
    if tta not in TTA_MODES:
        raise UsageError(f"tta must be one of {', '.join(TTA_MODES)}, not {tta!r}")
    s, m = cfg.input_size, cfg.image_size - cfg.input_size
    if tta != "ten-crop":
        return [augment_batch(x, get_augment("none"), s, train=False)]
    if m <= 0:
        raise UsageError(f"ten-crop needs input_size < image_size (the model takes "
                         f"{cfg.input_size} of {cfg.image_size})")
    offsets = [(0, 0), (0, m), (m, 0), (m, m), (m // 2, m // 2)]
    return [x[..., y:y + s, x0:x0 + s] for y, x0 in offsets]


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, cfg: TrainConfig, tta: str = "flip",
                   device: torch.device | str | None = None, batch_size: int = 256,
                   amp: bool = False, progress: bool = False) -> torch.Tensor:
    """float32 logits (on the CPU) for uint8 images ``(N, C, image_size, image_size)``.

    Each view of :func:`tta_views` is normalised and, unless ``tta`` is ``none``,
    also mirrored; the logits of all views are averaged.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    out = []
    with progress_bar(progress, remaining=False) as bar:
        task = bar.add_task("predict", total=len(images))
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device).float() / 255
            views = tta_views(x, cfg, tta)
            total = 0
            with autocast(device, amp):
                for v in views:
                    v = normalize(v, cfg)
                    total = total + model(v).float()
                    if tta != "none":
                        total = total + model(v.flip(-1)).float()
            out.append((total / (len(views) * (1 if tta == "none" else 2))).cpu())
            bar.advance(task, len(x))
    return torch.cat(out) if out else torch.zeros(0, 0)
