"""YOLOv8 building blocks, named and shaped exactly as Ultralytics' so state dicts load unchanged."""

from __future__ import annotations

import torch
from torch import nn


def autopad(k: int, p: int | None = None, d: int = 1) -> int:
    """'Same' padding for an odd kernel."""
    if p is not None:
        return p
    return (d * (k - 1) + 1) // 2


class Conv(nn.Module):
    """Conv2d (no bias) → BatchNorm2d → SiLU; after :meth:`fuse` the BN folds into the conv."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p), groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the BatchNorm into the convolution's weight and bias (inference only)."""
        conv, bn = self.conv, self.bn
        fused = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
            conv.padding, conv.dilation, conv.groups, bias=True,
        ).to(conv.weight.device)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
        self.conv = fused
        del self.bn
        self.forward = self.forward_fused  # type: ignore[method-assign]


class Bottleneck(nn.Module):
    """Two 3x3 convs with an optional residual connection."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 3, 1)
        self.cv2 = Conv(c_, c2, 3, 1)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class SplitConv(nn.Module):
    """Two 1x1 Convs side by side, returned as a list: C2f's ``cv1`` with halves that may differ in width."""

    def __init__(self, a: Conv, b: Conv):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.a(x), self.b(x)]


class C2f(nn.Module):
    """CSP bottleneck with two convolutions and every bottleneck's output concatenated."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, e: float = 0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1: nn.Module = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, e=1.0) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv1(x)
        y = list(y) if isinstance(y, list) else list(y.split((self.c, self.c), 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))

    @torch.no_grad()
    def split_cv1(self) -> None:
        """Replace ``cv1`` by two convs computing its two halves (weights and BN copied: the same function).

        Channel pruning needs it: a split's halves cannot be traced, two convs can, and may then be pruned apart.
        """
        if isinstance(self.cv1, SplitConv):
            return
        old: Conv = self.cv1  # type: ignore[assignment]
        if not hasattr(old, "bn"):
            raise ValueError("split_cv1 needs an unfused C2f (BatchNorm still separate)")
        halves = []
        for sl in (slice(0, self.c), slice(self.c, 2 * self.c)):
            half = Conv(old.conv.in_channels, self.c, 1, 1).to(old.conv.weight.device)
            half.conv.weight.copy_(old.conv.weight[sl])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(half.bn, name).copy_(getattr(old.bn, name)[sl])
            half.bn.num_batches_tracked.copy_(old.bn.num_batches_tracked)
            half.train(old.training)
            halves.append(half)
        self.cv1 = SplitConv(*halves)


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max-pools, concatenated."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Upsample(nn.Module):
    """Nearest-neighbour 2x upsampling (parameter-free; kept as a module for index parity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")


class Concat(nn.Module):
    """Channel concatenation (parameter-free; kept as a module for index parity)."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, 1)
