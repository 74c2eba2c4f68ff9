"""The learned resizer (Talebi & Milanfar 2021, arXiv 2103.09950; SETI): a bilinear resize plus a
trainable residual CNN path, in front of a timm backbone (image models and signal branches).

>>> import torch
>>> LearnedResizer(3, (24, 24), filters=4)(torch.zeros(2, 3, 32, 32)).shape
torch.Size([2, 3, 24, 24])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LearnedResizer"]


class _ResBlock(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n, n, 3, padding=1, bias=False), nn.BatchNorm2d(n), nn.LeakyReLU(0.2),
                                  nn.Conv2d(n, n, 3, padding=1, bias=False), nn.BatchNorm2d(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LearnedResizer(nn.Module):
    """Learned resizer (Talebi & Milanfar 2021): bilinear resize plus a trainable residual CNN path.

    conv7×7 → LeakyReLU → conv1×1 → LeakyReLU → BN → resize → r residual blocks (+ skip) →
    conv3×3 → BN, added to the bilinearly resized input (so at initialisation it is close to
    plain resizing and the network learns what detail to keep).
    """

    def __init__(self, chans: int, size: tuple[int, int], filters: int = 16, blocks: int = 1) -> None:
        super().__init__()
        self.size = size
        self.head = nn.Sequential(nn.Conv2d(chans, filters, 7, padding=3), nn.LeakyReLU(0.2),
                                  nn.Conv2d(filters, filters, 1), nn.LeakyReLU(0.2), nn.BatchNorm2d(filters))
        self.blocks = nn.Sequential(*[_ResBlock(filters) for _ in range(blocks)])
        self.mid = nn.Sequential(nn.Conv2d(filters, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters))
        self.tail = nn.Conv2d(filters, chans, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        z = F.interpolate(self.head(x), size=self.size, mode="bilinear", align_corners=False)
        z = self.mid(self.blocks(z)) + z
        return skip + self.tail(z)
