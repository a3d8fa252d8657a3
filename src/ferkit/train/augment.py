"""Batch augmentation on tensors, so training needs no per-image Python loop.

Geometric jitter (rotation, shift, shear, zoom, flip) and the crop are one
affine resampling per batch; noise, random erasing and mixup/cutmix follow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from ferkit.errors import ConfigError, UnknownNameError

from .config import check_options


@dataclass(frozen=True)
class AugmentConfig:
    rotation: float = 15.0      # max degrees, uniform in [-r, r]
    shift: float = 0.1          # max fraction of the image size
    shear: float = 0.1          # max shear factor
    zoom: float = 0.1           # scale uniform in [1 - z, 1 + z]
    hflip: bool = True
    noise: float = 0.0          # std of additive Gaussian noise (on [0, 1] pixels)
    erasing: float = 0.5        # probability of one random-erasing rectangle per image
    mixup: float = 0.0          # Beta(alpha, alpha); 0 disables
    cutmix: float = 0.0         # Beta(alpha, alpha); 0 disables
    # What inference sees beyond FER2013's crops: small or soft faces, other exposures.
    lowres: float = 0.0         # probability of a down-then-up resize to 35-80 % of the size
    blur: float = 0.0           # probability of a Gaussian blur, sigma 0.4-1.4 px
    contrast: float = 0.0       # max relative contrast change, uniform in [1 - c, 1 + c]
    brightness: float = 0.0     # max brightness shift on [0, 1] pixels
    gamma: float = 0.0          # log-uniform gamma in [1 / (1 + g), 1 + g]

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(0, 0, 0, 0, False, 0, 0),
    "light": AugmentConfig(10, 0.05, 0.0, 0.05, True, 0.0, 0.0),
    "default": AugmentConfig(),
    # "default" plus the degradations of real photos and video frames.
    "robust": AugmentConfig(lowres=0.3, blur=0.2, contrast=0.3, brightness=0.15, gamma=0.4),
    # The ResNet50-on-Korean-faces recipe.
    "korean-resnet50": AugmentConfig(rotation=40, shift=0.07, shear=0.2, zoom=0.2, hflip=True,
                                     noise=0.03, erasing=0.0),
}


def get_augment(spec: str | dict | AugmentConfig | None) -> AugmentConfig:
    """A preset by name, a dict of overrides on ``default`` (``{"preset": ..., ...}``), or a config."""
    if spec is None:
        return PRESETS["none"]
    if isinstance(spec, AugmentConfig):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise UnknownNameError(f"unknown augmentation preset {spec!r}; "
                                   f"known: {', '.join(PRESETS)}")
        return PRESETS[spec]
    if not isinstance(spec, dict):
        raise ConfigError(f"augment must be a preset name or a mapping, not {spec!r}")
    spec = dict(spec)
    base = get_augment(spec.pop("preset", "default"))
    check_options(AugmentConfig, spec, "augment")
    return replace(base, **spec)


def _affine_matrices(n: int, cfg: AugmentConfig, crop_scale: float, train: bool,
                     generator: torch.Generator | None) -> torch.Tensor:
    """(n, 2, 3) matrices mapping output to input normalized coordinates."""
    def u(lo, hi):
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    if not train:
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = crop_scale
        return theta
    ang = u(-cfg.rotation, cfg.rotation) * math.pi / 180
    zoom = u(1 - cfg.zoom, 1 + cfg.zoom)
    sh = u(-cfg.shear, cfg.shear)
    # The crop may land anywhere inside the image, plus the configured shift.
    max_t = (1 - crop_scale) + 2 * cfg.shift
    tx, ty = u(-max_t, max_t), u(-max_t, max_t)
    cos, sin = torch.cos(ang), torch.sin(ang)
    s = crop_scale / zoom
    a = torch.stack([torch.stack([cos, -sin + sh * cos], 1),
                     torch.stack([sin, cos + sh * sin], 1)], 1) * s[:, None, None]
    if cfg.hflip:
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        a[:, :, 0] *= flip[:, None]
    return torch.cat([a, torch.stack([tx, ty], 1)[:, :, None]], 2)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, out_size: int, train: bool = True,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Warp a float batch ``(N, C, H, W)`` in [0, 1] to ``(N, C, out_size, out_size)``.

    In evaluation (``train=False``) this is the deterministic centre crop.
    """
    n, c, h, _ = x.shape
    crop_scale = out_size / h
    if not train and out_size == h:
        return x
    theta = _affine_matrices(n, cfg, crop_scale, train, generator).to(x)
    grid = F.affine_grid(theta, (n, c, out_size, out_size), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if not train:
        return out
    out = _photometric(out, cfg, generator)
    if cfg.lowres > 0:
        out = _low_resolution(out, cfg.lowres, generator)
    if cfg.blur > 0:
        out = _blur(out, cfg.blur, generator)
    if cfg.noise > 0:
        out = (out + torch.randn(out.shape, generator=generator).to(out) * cfg.noise).clamp_(0, 1)
    if cfg.erasing > 0:
        out = _random_erase(out, cfg.erasing, generator)
    return out


def _chosen(n: int, p: float, generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def _photometric(x: torch.Tensor, cfg: AugmentConfig, generator) -> torch.Tensor:
    n = x.shape[0]
    if cfg.gamma > 0:
        g = torch.exp((torch.rand(n, generator=generator) * 2 - 1) * math.log1p(cfg.gamma))
        x = x.clamp(1e-4, 1) ** g.to(x).view(n, 1, 1, 1)
    if cfg.contrast > 0 or cfg.brightness > 0:
        c = 1 + (torch.rand(n, generator=generator) * 2 - 1) * cfg.contrast
        b = (torch.rand(n, generator=generator) * 2 - 1) * cfg.brightness
        mean = x.mean((1, 2, 3), keepdim=True)
        x = ((x - mean) * c.to(x).view(n, 1, 1, 1) + mean + b.to(x).view(n, 1, 1, 1)).clamp(0, 1)
    return x


def _low_resolution(x: torch.Tensor, p: float, generator) -> torch.Tensor:
    """Down-then-up resize of a random part of the batch (one scale per batch)."""
    pick = _chosen(x.shape[0], p, generator).to(x.device)
    size = x.shape[-1]
    small = max(int(size * (0.35 + 0.45 * float(torch.rand(1, generator=generator)))), 8)
    low = F.interpolate(F.interpolate(x, size=small, mode="area"), size=size, mode="bilinear",
                        align_corners=False)
    return torch.where(pick.view(-1, 1, 1, 1), low, x)


def _blur(x: torch.Tensor, p: float, generator) -> torch.Tensor:
    """Gaussian blur (one sigma per batch) of a random part of the batch."""
    pick = _chosen(x.shape[0], p, generator).to(x.device)
    sigma = 0.4 + float(torch.rand(1, generator=generator))
    r = max(int(math.ceil(2 * sigma)), 1)
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return torch.where(pick.view(-1, 1, 1, 1), y, x)


def _random_erase(x: torch.Tensor, p: float, generator) -> torch.Tensor:
    n, _, h, w = x.shape
    area = torch.rand(n, generator=generator) * 0.3 + 0.02
    ratio = torch.exp(torch.rand(n, generator=generator) * (math.log(3.3) - math.log(0.3))
                      + math.log(0.3))
    eh = (torch.sqrt(area * ratio) * h).clamp(1, h).long()
    ew = (torch.sqrt(area / ratio) * w).clamp(1, w).long()
    y0 = (torch.rand(n, generator=generator) * (h - eh + 1)).long()
    x0 = (torch.rand(n, generator=generator) * (w - ew + 1)).long()
    yy = torch.arange(h)[None, :, None]
    xx = torch.arange(w)[None, None, :]
    box = ((yy >= y0[:, None, None]) & (yy < (y0 + eh)[:, None, None])
           & (xx >= x0[:, None, None]) & (xx < (x0 + ew)[:, None, None]))
    box &= (torch.rand(n, generator=generator) < p)[:, None, None]
    fill = torch.rand(x.shape, generator=generator).to(x)
    return torch.where(box[:, None].to(x.device), fill, x)


def mix_batch(x: torch.Tensor, y: torch.Tensor, cfg: AugmentConfig,
              generator: torch.Generator | None = None):
    """Mixup or cutmix (chosen at random when both are on) on a batch with soft targets ``y``."""
    modes = [m for m, a in (("mixup", cfg.mixup), ("cutmix", cfg.cutmix)) if a > 0]
    if not modes:
        return x, y
    mode = modes[int(torch.randint(len(modes), (1,), generator=generator))]
    alpha = cfg.mixup if mode == "mixup" else cfg.cutmix
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(x.shape[0], generator=generator)
    if mode == "mixup":
        x = lam * x + (1 - lam) * x[perm]
    else:
        h, w = x.shape[-2:]
        rh, rw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy, cx = int(torch.randint(h, (1,), generator=generator)), int(torch.randint(w, (1,), generator=generator))
        y0, y1 = max(cy - rh // 2, 0), min(cy + rh // 2, h)
        x0, x1 = max(cx - rw // 2, 0), min(cx + rw // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return x, lam * y + (1 - lam) * y[perm]
