"""Evaluation metrics of SEN / C-SWM: Hits@k and MRR of k-step latent predictions, and the
equivariance error (EE) and distance invariance error (DIE) on symmetric twins.

Definitions (SEN paper; ../shared/reference/SEN_RESULTS.md):
    rank_i = 1 + #{j != i : d(zhat_i, z_j) <= d(zhat_i, z_i)}  over the whole evaluation set:
             ties count as misses, so a collapsed encoder (all latents equal) scores 0 (the
             ``hits@k`` and ``mrr`` keys);
    SEN's rank_i = 1 + #{j : d(zhat_i, z_j) < d(zhat_i, z_i)}: ties count as hits (as C-SWM's
             stable sort with the diagonal first), so a collapsed encoder scores 100 (the
             ``ties_hit/`` keys, for comparison with the papers; equal to the above whenever no two
             latents coincide); a prediction with non-finite entries gets the worst rank in both;
    Hits@k = mean(rank <= k), MRR = mean(1 / rank);
    EE  = mean_i |g.S(x_i) - S(g.x_i)| / mean_i |S(x_i)|          (S = embedding, g.x = twin)
    DIE = mean_i | |zhat_i - z_r(i)| - |zhat^g_i - z^g_r(i)| | / mean_i |z_i|
          (zhat = k-step prediction, z = encoded truth, r a random pairing, ^g = on the twins).
    successor accuracy (eqmbrl's, for planners) = mean over transitions (x, a, x') of
          [argmin_b E(T(z, b), z') leads to x'] over all actions b from x: the model's predicted
          successor closest to the encoded true next state is one that the env really reaches.
          H@k ranks a prediction against *other states*; a planner instead compares the
          successors of one state, which H@k does not see.
    HH@1 (hard hits, 1 step; the teapot's) = mean over transitions (x, a, x') of
          [|zhat - z'| < |zhat - z_n| for every hard negative n], the hard negatives being states
          near x (the teapot: x itself and its six one-turn neighbours, those equal to x' left out);
          ties count as misses.
    TH@1 (turn hits, per axis; the teapot's) = from a start x_0, 30 turns of 2 pi / 30 about one
          axis (a full turn), rolled out in latent space from z_0 alone: the fraction of the steps
          t = 1..30 at which zhat_t is strictly closer to z_t than to every other z_s (s = 1..30) of
          that turn, averaged over the start states. One start gives a multiple of 1/30, as the
          SEN poster's figures are; ties count as misses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from eqmbrl.core.timing import PHASES
from eqmbrl.core.types import to_float_images
from worldmodels.persistence import evaluating
from worldmodels.world_model import WorldModel


def ranks(pred: torch.Tensor, target: torch.Tensor, strict: bool = True) -> torch.Tensor:
    """pred, target ``[N, ...]`` -> rank of target_i among all targets by distance to pred_i, ``[N]``
    (ties count as misses, or as hits with ``strict=False`` as SEN; non-finite rows rank last)."""
    d = torch.cdist(pred.flatten(1), target.flatten(1))
    diag = d.diagonal()[:, None]
    r = 1 + ((d <= diag).sum(1) - 1 if strict else (d < diag).sum(1))
    return torch.where(torch.isfinite(d).all(1), r, torch.full_like(r, len(d)))


def ranking_metrics(pred: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Hits@k for each k and MRR, in percent (as the papers report them), ties as misses, and
    ``ties_hit/hits@1`` and ``ties_hit/mrr`` with ties as hits (SEN's ranking)."""
    out = {}
    for prefix, strict, keys in (("", True, ks), ("ties_hit/", False, (1,))):
        r = ranks(pred, target, strict).double()
        out.update({f"{prefix}hits@{k}": 100.0 * (r <= k).double().mean().item() for k in keys})
        out[f"{prefix}mrr"] = 100.0 * (1.0 / r).mean().item()
    return out


def latent_health(z: torch.Tensor, obs: torch.Tensor) -> dict[str, float]:
    """Degenerate-latent check of encodings ``z [N, ...]`` of observations ``obs [N, ...]``:
    ``latent_std`` (mean over latent dimensions of the std over states), ``nonfinite_latents`` and
    ``collapsed_latents`` (fractions of states whose latent is not finite, or lies within 1e-6 of
    the mean latent norm of another state's latent whose observation differs)."""
    z = z.flatten(1).float().cpu()
    finite = torch.isfinite(z).all(1)
    zf = z[finite]
    obs_id = torch.unique(obs.flatten(1)[finite.to(obs.device)], dim=0, return_inverse=True)[1].cpu()
    close = torch.cdist(zf, zf) <= 1e-6 * zf.norm(dim=1).mean().clamp(min=1e-12)
    close &= obs_id[:, None] != obs_id[None]
    return {
        "latent_std": zf.std(0).mean().item() if len(zf) > 1 else float("nan"),
        "nonfinite_latents": 100.0 * (1 - finite.double().mean().item()),
        "collapsed_latents": 100.0 * close.any(1).double().sum().item() / len(z),
    }


@torch.no_grad()
def chunked(
    fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, chunk: int = 512, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Apply ``fn`` to aligned chunks of ``tensors`` (uint8 images become float in [0, 1] on ``device``)."""
    outs = []
    for i in range(0, len(tensors[0]), chunk):
        parts = [t[i : i + chunk].to(device) for t in tensors]
        parts = [to_float_images(p) for p in parts]
        outs.append(fn(*parts))
    return torch.cat(outs)


@torch.no_grad()
@PHASES.timed("world_model_metrics")
def evaluate(
    model: WorldModel,
    obs: torch.Tensor,
    actions: torch.Tensor,
    twin_obs: torch.Tensor | None = None,
    twin_actions: torch.Tensor | None = None,
    rewards: torch.Tensor | None = None,
    steps: tuple[int, ...] = (1, 5, 10),
    g: int = 1,
    successors: torch.Tensor | None = None,
    chunk: int = 512,
    seed: int = 0,
    hard_obs: torch.Tensor | None = None,
    hard_valid: torch.Tensor | None = None,
    turn_obs: torch.Tensor | None = None,
    turn_actions: torch.Tensor | None = None,
    turn_names: tuple[str, ...] = (),
) -> dict[str, float]:
    """All metrics on evaluation episodes.

    obs ``[N, T+1, Ci, Hi, Wi]`` (uint8 or float), actions ``[N, T, *A]``; ``twin_obs`` /
    ``twin_actions`` the same episodes with the env state and actions transformed by group element
    ``g``; ``rewards [N, T]``. Keys: ``hits@k/{s}step``, ``mrr/{s}step`` for each s in ``steps``
    (s <= T); with twins ``ee`` and ``die/{s}step``; with rewards and a trained reward head
    (``reward_weight > 0``) ``reward_mse`` and ``reward_r2`` (1 - MSE / variance of the rewards:
    the fraction of their variance the head explains) of the first step, and with a known torque cost
    (``action_cost = c > 0``) ``reward_head_r2``, the same MSE over the variance of the part the head
    learns, ``reward + c |a|^2`` (Reacher's distance term); with ``successors [N, T, A]`` (see
    :class:`eqmbrl.core.types.EvalData`) ``successor_acc`` in percent; with ``hard_obs [N, M, Ci, Hi, Wi]``
    and ``hard_valid [N, M]`` (hard negatives of each episode's first transition) ``hard_hits@1/1step``;
    with ``turn_obs [X, n, 31, Ci, Hi, Wi]``, ``turn_actions [X, n, 30, *A]`` and ``turn_names`` (X axes)
    ``turn_hits@1/<name>`` (module doc), all in percent. Runs in eval mode; the model's mode is
    restored afterwards.
    """
    with evaluating(model):
        out = _evaluate(model, obs, actions, twin_obs, twin_actions, rewards, steps, g, chunk, seed)
        if successors is not None:
            out["successor_acc"] = successor_accuracy(model, obs, successors, chunk)
        if hard_obs is not None and hard_valid is not None:
            out["hard_hits@1/1step"] = hard_hits(model, obs[:, :2], actions[:, 0], hard_obs, hard_valid, chunk)
        if turn_obs is not None and turn_actions is not None:
            for name, o, a in zip(turn_names, turn_obs, turn_actions, strict=True):
                out[f"turn_hits@1/{name}"] = turn_hits(model, o, a, chunk)
        return out


@torch.no_grad()
def hard_hits(
    model: WorldModel,
    obs: torch.Tensor,
    actions: torch.Tensor,
    hard_obs: torch.Tensor,
    valid: torch.Tensor,
    chunk: int = 512,
) -> float:
    """HH@1 in percent (module doc): transitions ``obs [N, 2, Ci, Hi, Wi]`` under ``actions [N, *A]``,
    hard negatives ``hard_obs [N, M, Ci, Hi, Wi]`` of which ``valid [N, M]`` count."""
    dev = model.device
    z_pred = chunked(lambda o, a: model.step(model.encode(o), a), obs[:, 0], actions, chunk=chunk, device=dev)
    z_next = chunked(model.encode, obs[:, 1], chunk=chunk, device=dev)
    z_neg = chunked(model.encode, hard_obs.flatten(0, 1), chunk=chunk, device=dev).unflatten(0, hard_obs.shape[:2])
    d_true = (z_pred - z_next).flatten(1).norm(dim=1)  # N
    d_neg = (z_pred[:, None] - z_neg).flatten(2).norm(dim=2)  # N x M
    d_neg = torch.where(valid.to(dev), d_neg, torch.full_like(d_neg, math.inf))
    hits = (d_true[:, None] < d_neg).all(1)  # NaN distances compare False: a miss
    return 100.0 * hits.double().mean().item()


@torch.no_grad()
def turn_hits(model: WorldModel, obs: torch.Tensor, actions: torch.Tensor, chunk: int = 512) -> float:
    """TH@1 in percent (module doc) of turns ``obs [n, T+1, Ci, Hi, Wi]`` under ``actions [n, T, *A]``."""
    dev = model.device
    n, T = actions.shape[:2]
    z_pred = chunked(lambda o, a: model.rollout(model.encode(o), a), obs[:, 0], actions, chunk=chunk, device=dev)
    z_true = chunked(model.encode, obs[:, 1:].flatten(0, 1), chunk=chunk, device=dev).unflatten(0, (n, T))
    d = torch.cdist(z_pred[:, 1:].flatten(2), z_true.flatten(2))  # n x T (prediction t) x T (truth s)
    hits = (d <= d.diagonal(dim1=1, dim2=2)[..., None]).sum(-1) == 1  # strictly closest to its own step
    return 100.0 * hits.double().mean().item()


def _evaluate(
    model: WorldModel,
    obs: torch.Tensor,
    actions: torch.Tensor,
    twin_obs: torch.Tensor | None,
    twin_actions: torch.Tensor | None,
    rewards: torch.Tensor | None,
    steps: tuple[int, ...],
    g: int,
    chunk: int,
    seed: int,
) -> dict[str, float]:
    dev, T = model.device, actions.shape[1]
    steps = tuple(s for s in steps if s <= T)
    z_pred = chunked(lambda o, a: model.rollout(model.encode(o), a), obs[:, 0], actions, chunk=chunk, device=dev)
    z_true = {s: chunked(model.encode, obs[:, s], chunk=chunk, device=dev) for s in steps}
    out: dict[str, float] = {}
    for s in steps:
        out.update({f"{k}/{s}step": v for k, v in ranking_metrics(z_pred[:, s], z_true[s]).items()})
    out.update(latent_health(z_pred[:, 0], obs[:, 0]))
    if twin_obs is not None and twin_actions is not None:
        out["ee"] = equivariance_error(model, obs[:, 0], twin_obs[:, 0], g, chunk)
        z_pred_g = chunked(
            lambda o, a: model.rollout(model.encode(o), a), twin_obs[:, 0], twin_actions, chunk=chunk, device=dev
        )
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(obs), generator=gen).to(dev)
        for s in steps:
            z_true_g = chunked(model.encode, twin_obs[:, s], chunk=chunk, device=dev)
            d = (z_pred[:, s] - z_true[s][perm]).flatten(1).norm(dim=1)
            d_g = (z_pred_g[:, s] - z_true_g[perm]).flatten(1).norm(dim=1)
            out[f"die/{s}step"] = ((d - d_g).abs().mean() / z_true[s].flatten(1).norm(dim=1).mean()).item()
    if rewards is not None and model.reward_weight > 0:
        r_pred = chunked(
            lambda o, a: model.reward(model.encode(o), a), obs[:, 0], actions[:, 0], chunk=chunk, device=dev
        )
        r_true = rewards[:, 0].float()
        out["reward_mse"] = (r_pred.cpu() - r_true).pow(2).mean().item()
        out["reward_r2"] = 1.0 - out["reward_mse"] / max(r_true.var(unbiased=False).item(), 1e-12)
        if model.action_cost > 0:  # the known -c|a|^2 is exact, so the error is the head's alone
            learned = r_true + model.action_penalty(actions[:, 0]).cpu()
            out["reward_head_r2"] = 1.0 - out["reward_mse"] / max(learned.var(unbiased=False).item(), 1e-12)
    return out


@torch.no_grad()
def successor_accuracy(model: WorldModel, obs: torch.Tensor, successors: torch.Tensor, chunk: int = 512) -> float:
    """Successor accuracy in percent (module doc) of discrete-action episodes: obs ``[N, T+1, Ci, Hi, Wi]``,
    successors bool ``[N, T, A]`` (True where action b leads to the recorded next state)."""
    num_actions = successors.shape[-1]
    every = torch.arange(num_actions, device=model.device)
    z = chunked(model.encode, obs.flatten(0, 1), chunk=chunk, device=model.device)  # every frame once
    z = z.unflatten(0, obs.shape[:2])  # N x T+1 x K x C

    def closest(z_now: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:  # [m] action whose prediction is closest
        pred = model.step(z_now.repeat_interleave(num_actions, 0), every.repeat(len(z_now)))
        energy = model.energy(pred, z_next.repeat_interleave(num_actions, 0))
        return energy.view(len(z_now), num_actions).argmin(1)

    best = chunked(closest, z[:, :-1].flatten(0, 1), z[:, 1:].flatten(0, 1), chunk=chunk, device=model.device)
    hits = successors.flatten(0, 1).to(best.device).gather(1, best[:, None])
    return 100.0 * hits.double().mean().item()


@torch.no_grad()
def equivariance_error(
    model: WorldModel, obs: torch.Tensor, twin_obs: torch.Tensor, g: int = 1, chunk: int = 512
) -> float:
    """EE of the embedding: obs, twin_obs ``[N, Ci, Hi, Wi]`` with twin = env state acted on by g."""
    dev = model.device
    s = chunked(model.embed, obs, chunk=chunk, device=dev)
    s_twin = chunked(model.embed, twin_obs, chunk=chunk, device=dev)
    num = (model.act_maps(g, s) - s_twin).flatten(1).norm(dim=1).mean()
    return (num / s.flatten(1).norm(dim=1).mean()).item()
