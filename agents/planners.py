"""Planners on a batched scorer ``score(actions [N, H, *A]) -> returns [N]`` (higher is better).

``CEM`` and ``MPPI`` optimise continuous ``H x A`` plans with a diagonal Gaussian. They share one
sampling loop (:class:`GaussianPlanner`: sample, clip to the bounds, score, refit with momentum,
warm start from the last mean shifted by one step) and differ only in how they refit the Gaussian
from the scored samples. ``DiscreteSearch`` plans over ``num_actions`` discrete actions: it scores
all ``num_actions ** H`` plans when there are at most ``max_plans`` of them, else it runs a
categorical CEM.

Every planner samples on its ``device`` with its own seeded generator and scores whole
populations at once (no Python loop over samples). :meth:`to` moves a planner to the scorer's
device; ``last_return`` is the scorer's value of the last returned plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import torch
import torch.nn.functional as F

Scorer = Callable[[torch.Tensor], torch.Tensor]
Bound = float | Sequence[float]
WARM_FILLS = ("repeat", "center")


class Planner(Protocol):
    """What :class:`agents.mpc.MPCAgent` needs from a planner.

    Discrete planners (``discrete = True``) also have ``num_actions``; continuous ones have the
    bounds ``low`` and ``high`` (``[A]`` tensors) for exploration noise.
    """

    discrete: bool
    last_return: float | None
    generator: torch.Generator  # the planner's own seeded sampling stream

    def plan(self, score: Scorer) -> torch.Tensor: ...

    def reset(self) -> None: ...

    def to(self, device: str | torch.device) -> Planner: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class DiscretePlanner(Planner, Protocol):
    """A :class:`Planner` with ``discrete = True``: it plans over ``num_actions`` actions."""

    num_actions: int


class ContinuousPlanner(Planner, Protocol):
    """A :class:`Planner` with ``discrete = False``: its action bounds ``low`` and ``high`` are ``[A]`` tensors."""

    low: torch.Tensor
    high: torch.Tensor


P = TypeVar("P", bound="PlannerState")


class PlannerState:
    """``state_dict`` / ``load_state_dict`` of a planner: its sampling generator and its warm start
    (the attribute named ``WARM``), so that a restored planner plans exactly as the saved one."""

    WARM: ClassVar[str]
    generator: torch.Generator
    device: torch.device
    seed: int

    def reset(self) -> None:
        """Forget the warm start (call at the start of an episode)."""
        setattr(self, self.WARM, None)

    def restart(self: P) -> P:
        """Reseed the generator on ``device`` and forget the warm start (what :meth:`to` ends with)."""
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.reset()
        return self

    def state_dict(self) -> dict[str, Any]:
        warm = getattr(self, self.WARM)
        return {"generator": self.generator.get_state(), "warm": None if warm is None else warm.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        setattr(self, self.WARM, None if state["warm"] is None else state["warm"].to(self.device))


def shift_plan(plan: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
    """Warm start: drop step 0 of ``plan [H, *A]`` and append ``fill [*A]`` (default: repeat the last step)."""
    last = plan[-1:] if fill is None else fill.expand_as(plan[-1:])
    return torch.cat([plan[1:], last])


def scored(score: Scorer, plans: torch.Tensor) -> torch.Tensor:
    """``score(plans [N, H, *A])`` checked to be a float tensor of shape ``[N]``."""
    returns = score(plans)
    if returns.shape != (plans.shape[0],):
        raise ValueError(
            f"the scorer must map plans {tuple(plans.shape)} to returns of shape "
            f"({plans.shape[0]},), got {tuple(returns.shape)}"
        )
    return returns


def check(name: str, value: object, ok: bool, allowed: str) -> None:
    """Raise ``ValueError("<name> must be <allowed>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_common(horizon: int, population: int, elites: int, iterations: int, momentum: float) -> None:
    """Checks shared by every planner's arguments."""
    for name, value in (("horizon", horizon), ("population", population), ("iterations", iterations)):
        check(name, value, value >= 1, ">= 1")
    check("elites", elites, 1 <= elites <= population, f"in [1, population={population}]")
    check("momentum", momentum, 0 <= momentum < 1, "in [0, 1)")


class GaussianPlanner(PlannerState):
    """Sampling loop shared by CEM and MPPI; subclasses implement :meth:`refit`.

    Plans are ``H x A`` (``horizon x action_dim``) float tensors inside ``[low, high]`` (scalars or
    one bound per action dimension). Each of ``iterations`` rounds samples ``population`` plans
    from ``N(mean, std^2)``, clips them, scores them and moves ``mean`` and ``std`` towards the
    refit with ``momentum`` (``new = momentum * old + (1 - momentum) * refit``); ``std`` never
    drops below ``min_std`` and restarts at ``init_std`` on every call. The returned plan is the
    final mean. The next call starts from it shifted by one step, its last step repeated
    (``warm_fill="repeat"``) or set to the middle of the bounds (``"center"``); :meth:`reset`
    forgets it.
    """

    discrete = False
    WARM = "mean"
    mean: torch.Tensor | None  # the warm start: the last plan shifted by one step

    def __init__(
        self,
        horizon: int,
        action_dim: int,
        population: int,
        elites: int | None,
        iterations: int,
        momentum: float,
        init_std: float,
        low: Bound,
        high: Bound,
        min_std: float,
        warm_fill: str,
        device: str | torch.device,
        seed: int,
    ) -> None:
        check_common(horizon, population, population if elites is None else elites, iterations, momentum)
        check("action_dim", action_dim, action_dim >= 1, ">= 1")
        check("init_std", init_std, init_std > 0, "> 0")
        check("min_std", min_std, 0 <= min_std <= init_std, f"in [0, init_std={init_std}]")
        check("warm_fill", warm_fill, warm_fill in WARM_FILLS, f"one of {', '.join(WARM_FILLS)}")
        self.horizon, self.action_dim, self.population, self.elites = horizon, action_dim, population, elites
        self.iterations, self.momentum, self.init_std, self.min_std = iterations, momentum, init_std, min_std
        self.warm_fill, self.seed, self._bounds = warm_fill, seed, (low, high)
        self.last_return: float | None = None
        self.to(device)

    def to(self, device: str | torch.device) -> GaussianPlanner:
        """Sample on ``device`` from now on (reseeds the generator and clears the warm start)."""
        self.device = torch.device(device)
        low, high = (
            torch.as_tensor(b, dtype=torch.float32, device=self.device).expand(self.action_dim).clone()
            for b in self._bounds
        )
        if not bool((low < high).all()):
            raise ValueError(
                f"action bounds need low < high in every dimension, got low={self._bounds[0]}, high={self._bounds[1]}"
            )
        self.low, self.high = low, high
        return self.restart()

    def plan(self, score: Scorer) -> torch.Tensor:
        """Optimise ``score`` over plans ``[population, H, A]``; returns the plan ``[H, A]``."""
        mean = self.initial_mean()
        std = torch.full_like(mean, self.init_std)
        for _ in range(self.iterations):
            noise = torch.randn((self.population, *mean.shape), generator=self.generator, device=self.device)
            samples = (mean + std * noise).clamp(self.low, self.high)
            new_mean, new_std = self.refit(samples, scored(score, samples))
            mean = self.momentum * mean + (1 - self.momentum) * new_mean
            std = (self.momentum * std + (1 - self.momentum) * new_std).clamp_min(self.min_std)
        plan = mean.clamp(self.low, self.high)
        self.last_return = float(scored(score, plan[None])[0])
        self.mean = shift_plan(plan, (self.low + self.high) / 2 if self.warm_fill == "center" else None)
        return plan

    def initial_mean(self) -> torch.Tensor:
        """The warm start if there is one, else the middle of the bounds: ``[H, A]``."""
        if self.mean is not None:
            return self.mean
        return ((self.low + self.high) / 2).expand(self.horizon, self.action_dim).clone()

    def refit(self, samples: torch.Tensor, returns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """samples ``[P, H, A]``, returns ``[P]`` -> (mean, std), each ``[H, A]``."""
        raise NotImplementedError


class CEM(GaussianPlanner):
    """Cross-entropy method: refit the Gaussian to the ``elites`` best samples (mean and std)."""

    def __init__(
        self,
        horizon: int,
        action_dim: int,
        population: int = 1000,
        elites: int = 100,
        iterations: int = 10,
        momentum: float = 0.1,
        init_std: float = 0.5,
        low: Bound = -1.0,
        high: Bound = 1.0,
        min_std: float = 0.05,
        warm_fill: str = "repeat",
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__(
            horizon,
            action_dim,
            population,
            elites,
            iterations,
            momentum,
            init_std,
            low,
            high,
            min_std,
            warm_fill,
            device,
            seed,
        )

    def refit(self, samples: torch.Tensor, returns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and (biased) std of the elite samples ``[E, H, A]``."""
        assert self.elites is not None  # CEM's elites is an int
        elite = samples[returns.topk(self.elites).indices]
        return elite.mean(0), elite.std(0, correction=0)


class MPPI(GaussianPlanner):
    """MPPI as in TD-MPC2: refit to the ``elites`` best samples (all when ``None``) weighted by
    ``softmax(returns / temperature)``; lower temperatures trust the best samples more."""

    def __init__(
        self,
        horizon: int,
        action_dim: int,
        population: int = 512,
        iterations: int = 6,
        temperature: float = 0.5,
        noise_std: float = 0.5,
        elites: int | None = 64,
        momentum: float = 0.1,
        low: Bound = -1.0,
        high: Bound = 1.0,
        min_std: float = 0.05,
        warm_fill: str = "repeat",
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        check("temperature", temperature, temperature > 0, "> 0")
        self.temperature = temperature
        super().__init__(
            horizon,
            action_dim,
            population,
            elites,
            iterations,
            momentum,
            noise_std,
            low,
            high,
            min_std,
            warm_fill,
            device,
            seed,
        )

    def refit(self, samples: torch.Tensor, returns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return-weighted mean and std of the (elite) samples."""
        if self.elites is not None:
            top = returns.topk(self.elites).indices
            samples, returns = samples[top], returns[top]
        weights = torch.softmax(returns / self.temperature, dim=0)[:, None, None]  # E x 1 x 1
        mean = (weights * samples).sum(0)
        return mean, (weights * (samples - mean).pow(2)).sum(0).sqrt()


class DiscreteSearch(PlannerState):
    """Best plan ``[H]`` (int64 actions in ``range(num_actions)``) for a scorer of ``[N, H]`` plans.

    Exhaustive when ``num_actions ** horizon <= max_plans``: plans are enumerated in base
    ``num_actions`` (step 0 most significant) and scored ``chunk_size`` at a time; ties (values
    within ``tie_tolerance`` of the best, relative) are broken uniformly at random, never by
    enumeration order (which would always favour low action indices, e.g. a no-op first).
    Otherwise categorical CEM: ``iterations`` rounds sample
    ``population`` plans from independent per-step categoricals ``[H, num_actions]`` (uniform at
    first), and move them towards the elites' action frequencies with ``momentum`` (exponential
    smoothing, so no action's probability reaches zero); the best plan sampled is returned, and
    the next call includes it, shifted by one step, in its first population.
    """

    discrete = True
    WARM = "previous"
    previous: torch.Tensor | None  # the warm start: the last plan shifted by one step

    def __init__(
        self,
        horizon: int,
        num_actions: int,
        max_plans: int = 100_000,
        population: int = 1000,
        elites: int = 100,
        iterations: int = 5,
        momentum: float = 0.1,
        chunk_size: int = 16_384,
        tie_tolerance: float = 1e-6,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        check_common(horizon, population, elites, iterations, momentum)
        check("tie_tolerance", tie_tolerance, tie_tolerance >= 0, ">= 0")
        for name, value in (("num_actions", num_actions), ("max_plans", max_plans), ("chunk_size", chunk_size)):
            check(name, value, value >= 1, ">= 1")
        self.horizon, self.num_actions, self.max_plans, self.population = horizon, num_actions, max_plans, population
        self.elites, self.iterations, self.momentum, self.chunk_size = elites, iterations, momentum, chunk_size
        self.seed, self.tie_tolerance = seed, tie_tolerance
        self.last_return: float | None = None
        self.to(device)

    @property
    def exhaustive(self) -> bool:
        """Whether :meth:`plan` scores every plan (``num_actions ** horizon <= max_plans``)."""
        return self.num_actions**self.horizon <= self.max_plans

    def to(self, device: str | torch.device) -> DiscreteSearch:
        """Sample on ``device`` from now on (reseeds the generator and clears the warm start)."""
        self.device = torch.device(device)
        return self.restart()

    def plan(self, score: Scorer) -> torch.Tensor:
        """Best plan ``[H]`` (int64) found for ``score``."""
        values, plans = self._search_exhaustive(score) if self.exhaustive else self._search_cem(score)
        best = self.random_argmax(values)
        self.last_return = float(values[best])
        self.previous = shift_plan(plans[best])
        return plans[best]

    def random_argmax(self, values: torch.Tensor) -> int:
        """Index of a maximum of ``values [N]``, uniform among those within ``tie_tolerance`` (relative)."""
        best = values.max()
        ties = torch.nonzero(values >= best - self.tie_tolerance * best.abs().clamp(min=1.0)).flatten()
        pick = torch.randint(len(ties), (1,), device=self.device, generator=self.generator)
        return int(ties[pick.to(ties.device)])

    def enumerate_plans(self, start: int, stop: int) -> torch.Tensor:
        """Plans number ``start .. stop - 1`` in base-``num_actions`` order: ``[stop - start, H]`` int64."""
        index = torch.arange(start, stop, device=self.device)
        powers = self.num_actions ** torch.arange(self.horizon - 1, -1, -1, device=self.device)
        return index[:, None] // powers % self.num_actions

    def _search_exhaustive(self, score: Scorer) -> tuple[torch.Tensor, torch.Tensor]:
        """Best value and plan of every chunk: ``[chunks]``, ``[chunks, H]``."""
        total, values, plans = self.num_actions**self.horizon, [], []
        for start in range(0, total, self.chunk_size):
            chunk = self.enumerate_plans(start, min(start + self.chunk_size, total))
            returns = scored(score, chunk)
            i = self.random_argmax(returns)
            values.append(returns[i])
            plans.append(chunk[i])
        return torch.stack(values), torch.stack(plans)

    def _search_cem(self, score: Scorer) -> tuple[torch.Tensor, torch.Tensor]:
        """Best value and plan of every iteration: ``[iterations]``, ``[iterations, H]``."""
        probs = torch.full((self.horizon, self.num_actions), 1 / self.num_actions, device=self.device)
        values, plans = [], []
        for it in range(self.iterations):
            samples = torch.multinomial(probs, self.population, replacement=True, generator=self.generator).T
            if it == 0 and self.previous is not None:
                samples[0] = self.previous
            returns = scored(score, samples)
            top = returns.topk(self.elites)
            freq = F.one_hot(samples[top.indices], self.num_actions).to(probs.dtype).mean(0)  # H x num_actions
            probs = self.momentum * probs + (1 - self.momentum) * freq
            values.append(top.values[0])
            plans.append(samples[top.indices[0]])
        return torch.stack(values), torch.stack(plans)
