"""Small-stem ResNets for 40-64 px faces (``resnet18s``, ``resnet34s``).

ImageNet ResNets shrink the input 4x before the first stage (7x7 stride-2 stem
and a max-pool), which leaves a 48 px face at 12x12 after the stem. These keep
full resolution into the first stage (one 3x3 stride-1 stem) and halve it at
each later stage, so a 40-48 px face ends at 5-6 px before global pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SmallStemResNet(nn.Module):
    def __init__(self, depths=(2, 2, 2, 2), widths=(64, 128, 256, 512), num_classes: int = 7,
                 in_chans: int = 1, drop_rate: float = 0.3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        stages, c = [], widths[0]
        for i, (d, w) in enumerate(zip(depths, widths)):
            blocks = [BasicBlock(c, w, 1 if i == 0 else 2)]
            blocks += [BasicBlock(w, w, 1) for _ in range(d - 1)]
            stages.append(nn.Sequential(*blocks))
            c = w
        self.features = nn.Sequential(self.stem, *stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.head = nn.Linear(c, num_classes)
        self.num_features = c
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)   # each block starts as the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.head(self.dropout(x))


@register_model
def resnet18s(num_classes=7, in_chans=1, drop_rate=0.3, **kw):
    """11.2M parameters."""
    return SmallStemResNet((2, 2, 2, 2), (64, 128, 256, 512), num_classes, in_chans, drop_rate, **kw)


@register_model
def resnet34s(num_classes=7, in_chans=1, drop_rate=0.3, **kw):
    """21.3M parameters."""
    return SmallStemResNet((3, 4, 6, 3), (64, 128, 256, 512), num_classes, in_chans, drop_rate, **kw)
