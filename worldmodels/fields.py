"""escnn vocabulary: the gspace of a group, field types, element lookup and equivariant MLPs.

Every equivariant module of the world model is built from these helpers with the group as a
parameter, so the non-equivariant baseline is the same code on the trivial group.
"""

from __future__ import annotations

from escnn import gspaces
from escnn import nn as enn
from escnn.group import GroupElement
from torch import nn

from eqmbrl.core.choices import check_choice
from eqmbrl.core.symmetry import Group
from worldmodels.layers import EquivariantLinear

ACTION_ENCODINGS = ("directions", "torques")


def make_gspace(group: Group) -> gspaces.GSpace2D:
    """escnn gspace of planar ``group`` acting on R^2 (rotations about the image centre)."""
    if group.name == "C4":
        return gspaces.rot2dOnR2(N=4)
    if group.name == "D4":
        return gspaces.flipRot2dOnR2(N=4)
    return gspaces.trivialOnR2()


def element(gspace: gspaces.GSpace2D, g: int) -> GroupElement:
    """escnn element with index ``g`` (see :mod:`eqmbrl.core.symmetry` for the convention)."""
    return gspace.fibergroup.elements[g]


def regular(gspace: gspaces.GSpace2D, channels: int) -> enn.FieldType:
    """Regular fields filling ``channels`` channels (``channels`` must be divisible by |G|)."""
    order = gspace.fibergroup.order()
    if channels % order:
        raise ValueError(f"{channels} channels cannot hold regular fields of a group of order {order}")
    return enn.FieldType(gspace, [gspace.regular_repr] * (channels // order))


def trivial(gspace: gspaces.GSpace2D, channels: int) -> enn.FieldType:
    """``channels`` invariant scalar fields."""
    return enn.FieldType(gspace, [gspace.trivial_repr] * channels)


def planar(gspace: gspaces.GSpace2D, points: int) -> enn.FieldType:
    """``points`` vectors of the plane (2 channels each) in world coordinates (x right, y up),
    turned by each element as escnn turns the pixels of a map under it (``gspace.basespace_action``,
    which is :func:`eqmbrl.core.symmetry.rotate_points`; plain pairs of scalars for the trivial group).

    escnn's D4 irrep (1, 1) is the same up to a change of basis, but its element 4 flips y, not x:
    the latent of a model whose maps keep the image layout turns with the image, so vectors decoded
    from it must use this representation (docs/notebook.md §15: with the irrep, a state head cannot fit
    a trained ``sen`` model's latents at all)."""
    if gspace.fibergroup.name == "C1":
        return trivial(gspace, 2 * points)
    return enn.FieldType(gspace, [gspace.basespace_action] * points)


def action_type(gspace: gspaces.GSpace2D, encoding: str, width: int) -> enn.FieldType:
    """Field type of an encoded per-slot action of ``width`` channels.

    ``directions``: a one-hot over 4 counter-clockwise directions, one regular field of C4
    (a rotation by k quarter turns shifts the direction by k). ``torques``: pairs ``(tau, -tau)``
    in D4's quotient representation by its rotations (invariant under rotations, swapped, i.e.
    negated, by reflections), as in SEN. Groups without the needed structure see trivial fields.
    """
    name = gspace.fibergroup.name
    check_choice("action encoding", encoding, ACTION_ENCODINGS)
    if name == "C1" or (encoding, name) == ("torques", "C4"):
        return trivial(gspace, width)
    if (encoding, name) == ("directions", "C4"):
        return regular(gspace, width)
    if (encoding, name) == ("torques", "D4"):
        rho = gspace.fibergroup.quotient_representation((None, 4))
        return enn.FieldType(gspace, [rho] * (width // 2))
    raise ValueError(
        f"action encoding {encoding!r} is not defined for group {name}; use C4 for "
        "'directions' and D4 or C4 for 'torques'"
    )


def mlp(in_type: enn.FieldType, hidden: int, out_type: enn.FieldType, layers: int = 2) -> nn.Sequential:
    """Equivariant MLP on flat vectors ``[..., in_type.size] -> [..., out_type.size]``: ``layers``
    escnn-owned linear maps (:class:`~worldmodels.layers.EquivariantLinear`) with ReLUs in between;
    ``hidden`` is in channels. ReLU acts channel-wise, which commutes with regular representations."""
    types = [in_type] + [regular(in_type.gspace, hidden)] * (layers - 1) + [out_type]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(types[:-1], types[1:])):
        mods.append(EquivariantLinear(a, b))
        if i < layers - 1:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)
