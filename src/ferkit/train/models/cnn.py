"""ferkit's VGG-style expression CNNs (``fercnn_s``, ``fercnn_m``, ``fercnn_l``).

Four stages of two 3x3 conv-BN-ReLU layers each, max-pooled between stages,
global average pooling and a dropout + linear head. Global pooling makes the
network accept any input size from about 32x32 up.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FerCNN(nn.Module):
    def __init__(self, widths=(64, 128, 256, 512), num_classes: int = 7, in_chans: int = 1,
                 drop_rate: float = 0.4):
        super().__init__()
        stages, c = [], in_chans
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(_conv(c, w), _conv(w, w),
                                        nn.MaxPool2d(2) if i < len(widths) - 1 else nn.Identity()))
            c = w
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.head = nn.Linear(c, num_classes)
        self.num_features = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.head(self.dropout(x))


@register_model
def fercnn_s(num_classes=7, in_chans=1, drop_rate=0.4, **kw):
    """1.2M parameters."""
    return FerCNN((32, 64, 128, 256), num_classes, in_chans, drop_rate, **kw)


@register_model
def fercnn_m(num_classes=7, in_chans=1, drop_rate=0.4, **kw):
    """2.6M parameters."""
    return FerCNN((48, 96, 192, 384), num_classes, in_chans, drop_rate, **kw)


@register_model
def fercnn_l(num_classes=7, in_chans=1, drop_rate=0.4, **kw):
    """4.7M parameters."""
    return FerCNN((64, 128, 256, 512), num_classes, in_chans, drop_rate, **kw)
