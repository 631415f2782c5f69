"""Plain-torch planning copies of a world model (escnn exported, 1x1 convs run as ``nn.Linear``).

escnn modules expand their filters from a basis on every call in train mode and cache them in
eval mode; either way a 1x1 ``R2Conv`` on ``[B, C, 1, 1]`` tensors is a ``Conv2d`` call with
per-call overhead. :func:`planning_copy` exports every escnn block of the encoder, transition and
reward head (``EquivariantModule.export``) and turns each 1x1 conv into an ``nn.Linear`` on flat
vectors, which is 2-3x faster for imagined rollouts on a CPU (bench/bench_planning.py). The copy
computes the same function as the original (tests/test_planning.py checks it to 1e-5), is in
eval mode, has no gradients, and does not follow later updates of the original: make a new copy
after refitting.
"""
from __future__ import annotations

import copy

import torch
from escnn import nn as enn
from torch import nn

from worldmodels.world_model import WorldModel


class Exported(nn.Module):
    """Plain-torch stand-in for an escnn block, called on (and returning) ``GeometricTensor``s.

    ``linear=True`` (1x1 blocks on ``[B, C, 1, 1]`` only) runs ``nn.Linear`` on ``[B, C]`` instead.
    """

    def __init__(self, module: enn.EquivariantModule, linear: bool = False) -> None:
        super().__init__()
        self.in_type, self.out_type, self.linear = module.in_type, module.out_type, linear
        net = module.export()
        self.net = _as_linear(net) if linear else net

    def forward(self, x: enn.GeometricTensor) -> enn.GeometricTensor:
        t = x.tensor
        y = self.net(t.flatten(1))[..., None, None] if self.linear else self.net(t)
        return enn.GeometricTensor(y, self.out_type)


def _as_linear(module: nn.Module) -> nn.Module:
    """A 1x1 ``Conv2d`` as ``nn.Linear``; ReLU as is; ``Sequential``s converted throughout;
    anything else (escnn's exported group pooling) wrapped to run on ``[B, C, 1, 1]``."""
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*[_as_linear(m) for m in module])
    if isinstance(module, nn.Conv2d):
        if module.kernel_size != (1, 1):
            raise ValueError(f"only 1x1 convolutions run as nn.Linear, got kernel {module.kernel_size}")
        lin = nn.Linear(module.in_channels, module.out_channels, bias=module.bias is not None)
        lin.weight.data = module.weight.data.flatten(1).clone()
        if module.bias is not None:
            lin.bias.data = module.bias.data.clone()
        return lin
    if isinstance(module, nn.ReLU):
        return module
    return _OnPixel(module)


class _OnPixel(nn.Module):
    """Runs a module made for ``[B, C, 1, 1]`` on flat ``[B, C]``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x[..., None, None]).flatten(1)


def planning_copy(model: WorldModel, linear: bool = True) -> WorldModel:
    """A deep copy of ``model`` in eval mode, without gradients, whose escnn blocks are exported to
    plain torch (the encoder's convolutions as ``Conv2d``; its 1x1 head, the transition and the
    reward features as ``nn.Linear`` when ``linear``). The original is not changed."""
    was_training = model.training
    model.train()  # drops escnn's cached filters, which are not graph leaves and cannot be deep-copied
    try:
        m = copy.deepcopy(model)
    finally:
        model.train(was_training)
    m.eval()
    m.encoder.conv = Exported(m.encoder.conv)  # 3x3 and s x s convs: always Conv2d
    m.encoder.head = Exported(m.encoder.head, linear)
    if m.transition.edge is not None:
        m.transition.edge = Exported(m.transition.edge, linear)
    m.transition.node = Exported(m.transition.node, linear)
    m.reward_head.features = Exported(m.reward_head.features, linear)
    return m.eval().requires_grad_(False)
