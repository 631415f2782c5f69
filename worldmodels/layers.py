"""Equivariant layers whose basis and parameters escnn owns, executed as plain matmuls.

Every layer holds an ``enn.R2Conv``: escnn builds the equivariant basis and owns the trainable
coefficients. The forward pass expands the filter (escnn's ``expand_parameters``; cached while no
gradient is needed and the parameters are unchanged) and runs it in one of three ways:

``dense`` (default)
    1x1 layers and convolutions whose kernel covers the whole map as one ``F.linear``; other
    convolutions as ``F.conv2d``. Same math as escnn, without ``GeometricTensor`` wrapping and
    without escnn's slow backward through its convolution call.
``fourier``
    For maps between regular representations (:class:`EquivariantLinear` only): the layer runs in
    the group's irrep (Fourier) basis, where it is block diagonal (Schur's lemma). An irrep of
    real type with multiplicity m and dimension d needs one ``m n_out x m n_in`` matrix shared by
    its d coordinates; other irreps one dense block. Multiply-adds per layer: 6/16 of dense for
    C4, 12/64 for D4. Non-linearities stay in the spatial basis (the layer transforms in and out).
``escnn``
    escnn's own forward on ``GeometricTensor``s: the reference the others are tested against.

escnn's ``R2Conv`` caches its filters in buffers when put in eval mode, which makes the state dict
depend on the mode and blocks ``copy.deepcopy``; the layers here keep it in train mode and cache
outside the state dict instead, so a world model saves, loads and copies the same in any mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from escnn import nn as enn
from torch import nn

from eqmbrl.core.choices import check_choice

EXECUTIONS = ("escnn", "dense", "fourier")
ModuleT = TypeVar("ModuleT", bound=nn.Module)


def check_execution(execution: str) -> str:
    """``execution`` if it is one of :data:`EXECUTIONS`, else a ValueError naming the choices."""
    check_choice("execution", execution, EXECUTIONS)
    return execution


class EquivariantConv(nn.Module):
    """An escnn-owned steerable convolution on plain tensors ``[B, C_in, H, W] -> [B, C_out, H', W']``."""

    def __init__(
        self,
        in_type: enn.FieldType,
        out_type: enn.FieldType,
        kernel_size: int,
        padding: int = 0,
        stride: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.conv = enn.R2Conv(in_type, out_type, kernel_size, padding=padding, stride=stride, bias=bias)
        self.in_type, self.out_type = in_type, out_type
        self.kernel_size, self.padding, self.stride = kernel_size, padding, stride
        self.execution = "dense"
        self.frozen = False  # set by WorldModel.export: parameters never change, cached filters need no check
        self._cache: dict[str, tuple[tuple, object]] = {}

    def train(self, mode: bool = True) -> EquivariantConv:
        """Set the mode flag only: the wrapped ``R2Conv`` stays in train mode (see the module docs)."""
        self.training = mode
        return self

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        return {**state, "_cache": {}}  # caches are not state: copies and pickles start without one

    def filters(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Expanded filter ``[C_out, C_in, k, k]`` and bias ``[C_out]`` (or None)."""
        return self.cached(lambda: self.conv.expand_parameters())

    def cached(self, make):  # noqa: ANN001, ANN201 (a thunk and whatever it makes)
        """``make()``, re-used while no gradient is recorded and the parameters are unchanged (on a
        frozen layer, re-used without checking the parameters)."""
        params = [p for p in (self.conv.weights, self.conv.bias) if p is not None]  # not .parameters(): escnn
        # modules hash their bases, which costs more than a small matmul
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return make()
        name = make.__qualname__
        if self.frozen and name in self._cache:
            return self._cache[name][1]
        key = tuple((p.data_ptr(), 0 if p.is_inference() else p._version, p.device, p.dtype) for p in params)
        if name not in self._cache or self._cache[name][0] != key:
            with torch.no_grad():
                self._cache[name] = (key, make())
        return self._cache[name][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, C_in, H, W]`` -> ``[B, C_out, H', W']``."""
        if self.execution == "escnn":
            return self.conv(enn.GeometricTensor(x, self.in_type)).tensor
        if self.padding == 0 and x.shape[-2:] == (self.kernel_size, self.kernel_size):  # kernel covers the map
            return self.covering(x.flatten(1))[..., None, None]
        weight, bias = self.filters()
        return conv2d(x, weight, bias, self.stride, self.padding)

    def covering(self, x: torch.Tensor) -> torch.Tensor:
        """The layer on one whole k x k map as a linear map: x ``[B, C_in k k]`` -> ``[B, C_out]``.

        In ``fourier`` execution between regular fields, the input's coordinates are first regrouped
        into regular fields (:func:`orbit_permutation`), which makes the layer a map between regular
        representations of ``k * k`` times as many input fields, run block-diagonally.
        """
        if self.execution == "fourier" and self.map_fourier is not None:
            perm, basis = self.map_fourier
            blocks, bias = self.cached(self._map_blocks)
            return basis.apply(x[:, self.on_device(perm, x.device)], blocks, bias)
        weight, bias = self.filters()
        return F.linear(x, weight.flatten(1), bias)

    @property
    def map_fourier(self) -> tuple[torch.Tensor, FourierBasis] | None:
        """(input permutation, irrep basis) for running :meth:`covering` in the Fourier basis, or None."""
        if "map_fourier" not in self._cache:
            basis = FourierBasis.of(self.in_type, self.out_type)
            value = None if basis is None else (orbit_permutation(self.in_type, self.kernel_size), basis)
            self._cache["map_fourier"] = ((), value)
        return self._cache["map_fourier"][1]  # type: ignore[return-value]

    def _map_blocks(self) -> tuple[list, torch.Tensor | None]:
        weight, bias = self.filters()
        perm, basis = self.map_fourier  # type: ignore[misc]
        return basis.blocks(weight.flatten(1)[:, self.on_device(perm, weight.device)]), bias

    def on_device(self, perm: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The orbit permutation on ``device``, copied there once."""
        key = f"perm@{device}"
        if key not in self._cache:
            self._cache[key] = ((), perm.to(device))
        return self._cache[key][1]  # type: ignore[return-value]


class EquivariantLinear(EquivariantConv):
    """An escnn-owned equivariant linear map on flat vectors ``[..., C_in] -> [..., C_out]`` (a 1x1 R2Conv)."""

    def __init__(self, in_type: enn.FieldType, out_type: enn.FieldType, bias: bool = True) -> None:
        super().__init__(in_type, out_type, 1, bias=bias)
        self.fourier = FourierBasis.of(in_type, out_type)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Dense weight ``[C_out, C_in]`` and bias ``[C_out]`` (or None)."""
        weight, bias = self.filters()
        return weight[:, :, 0, 0], bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[..., C_in]`` -> ``[..., C_out]``."""
        if self.execution == "escnn":
            lead = x.shape[:-1]
            y = self.conv(enn.GeometricTensor(x.reshape(-1, x.shape[-1], 1, 1), self.in_type)).tensor
            return y.reshape(*lead, -1)
        if self.execution == "fourier" and self.fourier is not None:
            blocks, bias = self.cached(self._fourier_blocks)
            return self.fourier.apply(x, blocks, bias)
        weight, bias = self.weights()
        return F.linear(x, weight, bias)

    def _fourier_blocks(self) -> tuple[list, torch.Tensor | None]:
        weight, bias = self.weights()
        assert self.fourier is not None
        return self.fourier.blocks(weight), bias


@dataclass
class FourierBasis:
    """The irrep basis of a group's regular representation, ordered for block-diagonal matmuls.

    ``P [G, G]`` maps a regular field's spatial coordinates to Fourier coordinates, grouped by
    irrep and within an irrep by copy. ``units`` lists each irrep's ``(units, rows per unit)``:
    an irrep of real type (dimension d, multiplicity m) has m units of d rows, and one matrix per
    pair of units serves all d rows (Schur); other irreps have one unit per row.
    """

    P: torch.Tensor
    P_inv: torch.Tensor
    units: list[tuple[int, int]]
    _copies: dict = field(default_factory=dict)

    def on(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """The constant ``P`` or ``P_inv`` on ``like``'s device and dtype, copied there once and kept:
        no host-to-device copy inside a rollout loop."""
        key = (name, like.device, like.dtype)
        if key not in self._copies:
            self._copies[key] = getattr(self, name).to(device=like.device, dtype=like.dtype)
        return self._copies[key]

    @staticmethod
    def of(in_type: enn.FieldType, out_type: enn.FieldType) -> FourierBasis | None:
        """The basis for a map between these types, or None unless both are regular fields of a group of order > 1."""
        gs = in_type.gspace
        reg = gs.regular_repr
        if gs.fibergroup.order() == 1 or any(
            r != reg for r in list(in_type.representations) + list(out_type.representations)
        ):
            return None
        return _fourier_basis(gs.fibergroup.name, reg)

    def blocks(self, weight: torch.Tensor) -> list[list[list[torch.Tensor]]]:
        """Per-irrep blocks of an equivariant ``weight [n_out G, n_in G]`` between regular fields:
        ``blocks[k][c][c_in]`` (``[n_out, n_in]``) maps unit ``c_in`` of irrep k's input to unit c."""
        G = self.P.shape[0]
        w = weight.reshape(weight.shape[0] // G, G, weight.shape[1] // G, G)
        out, start = [], 0
        for u, rows in self.units:  # the first row of each unit; constant slices, so no gradient bookkeeping
            first = slice(start, start + u * rows, rows)
            P, P_inv = self.on("P", weight)[first], self.on("P_inv", weight)[:, first]
            block = torch.einsum("rg,ogih,hs->rsoi", P, w, P_inv)  # [u, u, n_out, n_in]
            out.append([list(row.unbind(0)) for row in block.unbind(0)])
            start += u * rows
        return out

    def apply(self, x: torch.Tensor, blocks: list[list[list[torch.Tensor]]], bias: torch.Tensor | None) -> torch.Tensor:
        """Run the layer given by ``blocks`` on ``x [..., n_in G]`` -> ``[..., n_out G]``.

        Every product is one 2-D GEMM with the batch folded into its rows: Fourier coordinates
        are laid out ``[G, B, n]``, so each unit of an irrep is a contiguous ``[rows B, n]`` matrix.
        """
        G = self.P.shape[0]
        lead = x.shape[:-1]
        B = x.numel() // x.shape[-1]
        f = torch.mm(self.on("P", x), x.reshape(-1, G).T)  # [G, B n_in]
        ys = []
        parts = iter(f.split([rows for u, rows in self.units for _ in range(u)]))  # one per unit, no copies
        for (u, rows), block in zip(self.units, blocks):
            xs = [next(parts).reshape(rows * B, -1) for _ in range(u)]
            for row in block:
                y = F.linear(xs[0], row[0])
                for x_in, w in zip(xs[1:], row[1:]):
                    y = torch.addmm(y, x_in, w.T)
                ys.append(y.reshape(rows, -1))
        y = torch.mm(torch.cat(ys).T, self.on("P_inv", x).T).reshape(*lead, -1)  # [B n_out, G] -> [..., n_out G]
        return y if bias is None else y + bias


_BASES: dict[str, FourierBasis] = {}


def _fourier_basis(name: str, reg) -> FourierBasis:  # noqa: ANN001 (an escnn Representation)
    if name in _BASES:
        return _BASES[name]
    group = reg.group
    Q_inv = np.linalg.inv(reg.change_of_basis)  # spatial -> irrep coordinates, in reg.irreps order
    rows: dict[tuple, list[int]] = {}
    start = 0
    for irrep_id in reg.irreps:
        d = group.irrep(*irrep_id).size
        rows.setdefault(irrep_id, []).extend(range(start, start + d))
        start += d
    order, units = [], []
    for irrep_id, idx in rows.items():
        irrep = group.irrep(*irrep_id)
        units.append((len(idx) // irrep.size, irrep.size) if irrep.type == "R" else (len(idx), 1))
        order += idx
    P = torch.tensor(Q_inv[order], dtype=torch.float32)
    _BASES[name] = FourierBasis(P, torch.linalg.inv(P.double()).float(), units)
    return _BASES[name]


def orbit_permutation(field_type: enn.FieldType, size: int) -> torch.Tensor:
    """Regroup a map of regular fields into regular fields: a permutation ``[C * size * size]``.

    On a ``size x size`` map of regular fields the group permutes the flat coordinates
    (channel, pixel) freely, so every orbit has |G| coordinates and is one regular field. The
    permutation lists, orbit by orbit, the flat coordinate that element k (escnn's order) sends
    the orbit's first coordinate to; the layout is checked against escnn's regular representation.
    """
    group = field_type.gspace.fibergroup
    n = field_type.size * size * size
    basis = torch.arange(1, n + 1, dtype=torch.float64).reshape(1, field_type.size, size, size)
    moved = [
        enn.GeometricTensor(basis, field_type).transform(g).tensor.flatten().round().long() - 1 for g in group.elements
    ]
    sends = torch.empty(len(moved), n, dtype=torch.long)  # sends[k, b]: where element k sends coordinate b
    for k, image in enumerate(moved):
        sends[k, image] = torch.arange(n)
    seen, perm = torch.zeros(n, dtype=torch.bool), []
    for b in range(n):
        if not seen[b]:
            orbit = sends[:, b]
            if seen[orbit].any() or len(set(orbit.tolist())) != len(moved):
                raise ValueError(f"{field_type} on a {size}x{size} map is not a sum of regular fields")
            seen[orbit] = True
            perm.append(orbit)
    out = torch.cat(perm)
    reg = torch.as_tensor(np.stack([group.regular_representation(g) for g in group.elements]))
    for k in range(len(moved)):  # coordinate perm[j] moves to perm[j'] exactly as regular fields do
        x = torch.zeros(n, dtype=torch.float64)
        x[out] = torch.arange(n, dtype=torch.float64) + 1
        y = moved_values(x, sends[k])[out].reshape(-1, len(moved))
        if not torch.allclose(y, (x[out].reshape(-1, len(moved)) @ reg[k].T)):
            raise AssertionError("orbit layout disagrees with escnn's regular representation")
    return out


def moved_values(x: torch.Tensor, sends: torch.Tensor) -> torch.Tensor:
    """Values ``[n]`` after a coordinate permutation that sends coordinate b to ``sends[b]``."""
    y = torch.empty_like(x)
    y[sends] = x
    return y


def conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """``F.conv2d`` with the same result, routed to what is fastest on a CPU for its shape.

    Patchify layers (stride = kernel, no padding) run as one ``F.linear`` on the patches, and
    convolutions with few input taps (``C_in k k <= 36``) as unfold + ``F.linear``: both 2x faster
    than oneDNN's convolution forward + backward on these sizes (bench/bench_training.py).
    """
    B, C, H, W = x.shape
    k = weight.shape[-1]
    if stride == k and padding == 0 and H % k == 0 and W % k == 0:
        patches = x.reshape(B, C, H // k, k, W // k, k).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * k * k)
        return F.linear(patches, weight.flatten(1), bias).transpose(1, 2).reshape(B, -1, H // k, W // k)
    if stride == 1 and 1 < k and C * k * k <= 36:
        cols = F.unfold(x, k, padding=padding).transpose(1, 2)  # [B, L, C k k]
        Ho, Wo = H + 2 * padding - k + 1, W + 2 * padding - k + 1
        return F.linear(cols, weight.flatten(1), bias).transpose(1, 2).reshape(B, -1, Ho, Wo)
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state dict) whose forward runs :func:`conv2d`, except in
    the ``escnn`` reference execution, where it runs torch's own convolution."""

    execution = "dense"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ``[B, C_in, H, W]`` -> ``[B, C_out, H', W']``."""
        if self.execution == "escnn" or self.padding_mode != "zeros" or self.dilation != (1, 1) or self.groups != 1:
            return super().forward(x)
        padding = cast(tuple[int, ...], self.padding)  # built with int padding, never 'same' / 'valid'
        return conv2d(x, self.weight, self.bias, self.stride[0], padding[0])


def set_execution(module: ModuleT, execution: str) -> ModuleT:
    """Run every escnn-owned layer in ``module`` as ``execution`` (see :data:`EXECUTIONS`); returns ``module``."""
    check_execution(execution)
    for m in module.modules():
        if isinstance(m, (EquivariantConv, Conv2d)):
            m.execution = execution
    return module


def group_pool(x: torch.Tensor, order: int) -> torch.Tensor:
    """Max over each regular field's fibre: ``[..., n * order] -> [..., n]`` (G-invariant)."""
    return x.unflatten(-1, (-1, order)).amax(-1)
