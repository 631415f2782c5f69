"""Planners on toy scorers (quadratic cost, grid world) and the MPC agent on tiny real world models."""

import numpy as np
import pytest
import torch

from agents.mpc import MPCAgent, goal_objective, goal_values, reward_objective
from agents.planners import CEM, MPPI, DiscreteSearch
from envs.block_pushing import BlockPushingEnv, step_states
from tests.helpers import REACHER_MODEL, TINY_WIDTHS
from worldmodels.world_model import build_world_model

TARGET = torch.tensor([[0.3, -0.2], [0.5, 0.1], [-0.4, 0.7]])  # H=3 x A=2
# MPPI's soft weighting converges more slowly than CEM's elites: give it 10 iterations.
CONTINUOUS = {"cem": (CEM, {}), "mppi": (MPPI, {"iterations": 10})}
MOVES = torch.tensor([[0, 1], [1, 0], [0, -1], [-1, 0], [0, 0]])  # N, E, S, W, stay on a 5x5 grid
START, GOAL = torch.tensor([0, 0]), torch.tensor([2, 1])


def quadratic(target: torch.Tensor):
    return lambda actions: -(actions - target.to(actions.device)).pow(2).sum((1, 2))


def grid_positions(plans: torch.Tensor) -> torch.Tensor:
    """plans ``[N, H]`` of MOVES indices -> positions ``[N, H, 2]`` after each step (walls clip)."""
    pos, out = START.to(plans.device).expand(plans.shape[0], 2), []
    moves = MOVES.to(plans.device)
    for t in range(plans.shape[1]):
        pos = (pos + moves[plans[:, t]]).clamp(0, 4)
        out.append(pos)
    return torch.stack(out, dim=1)


def grid_score(plans: torch.Tensor) -> torch.Tensor:
    """Minus the Manhattan distance to GOAL summed over steps: best plans reach it soonest, then stay."""
    return -(grid_positions(plans) - GOAL.to(plans.device)).abs().sum(-1).sum(-1).to(torch.float32)


@pytest.mark.parametrize("name", list(CONTINUOUS))
@pytest.mark.parametrize("scale", [1.0, 3.0])  # 3x puts some of the optimum outside [-1, 1]
def test_continuous_planner_finds_clipped_optimum(name: str, scale: float) -> None:
    cls, kwargs = CONTINUOUS[name]
    planner = cls(horizon=3, action_dim=2, **kwargs)
    seen = []
    plan = planner.plan(lambda a: seen.append(a) or quadratic(scale * TARGET)(a))
    assert plan.shape == (3, 2)
    assert torch.allclose(plan, (scale * TARGET).clamp(-1, 1), atol=0.05), plan
    assert all(bool(((s >= -1) & (s <= 1)).all()) for s in seen)
    assert planner.last_return == pytest.approx(float(quadratic(scale * TARGET)(plan[None])), abs=1e-6)


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_per_dimension_bounds(name: str) -> None:
    cls, kwargs = CONTINUOUS[name]
    planner = cls(horizon=3, action_dim=2, low=[-1.0, 0.0], high=[1.0, 0.5], **kwargs)
    plan = planner.plan(quadratic(TARGET))
    assert torch.allclose(plan, TARGET.clamp(torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.5])), atol=0.05)


@pytest.mark.parametrize("name", list(CONTINUOUS))
@pytest.mark.parametrize("fill", ["repeat", "center"])
def test_warm_start_shifts_the_mean(name: str, fill: str) -> None:
    cls, kwargs = CONTINUOUS[name]
    planner = cls(horizon=3, action_dim=2, warm_fill=fill, **kwargs)
    assert planner.mean is None
    plan = planner.plan(quadratic(TARGET))
    assert torch.equal(planner.mean[:-1], plan[1:])
    assert torch.equal(planner.mean[-1], plan[-1] if fill == "repeat" else torch.zeros(2))
    assert torch.equal(planner.initial_mean(), planner.mean)
    planner.reset()
    assert planner.mean is None and torch.equal(planner.initial_mean(), torch.zeros(3, 2))


def test_same_seed_same_plan_and_seeds_differ() -> None:
    plans = [CEM(3, 2, population=50, elites=5, iterations=2, seed=s).plan(quadratic(TARGET)) for s in (0, 0, 1)]
    assert torch.equal(plans[0], plans[1]) and not torch.equal(plans[0], plans[2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"elites": 2000}, "elites"),
        ({"warm_fill": "last"}, "warm_fill"),
        ({"low": 1.0, "high": -1.0}, "low < high"),
        ({"momentum": 1.0}, "momentum"),
        ({"horizon": 0}, "horizon"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CEM(**{"horizon": 3, "action_dim": 2, **kwargs})


def test_scorer_with_wrong_shape_raises() -> None:
    with pytest.raises(ValueError, match="returns of shape"):
        CEM(3, 2).plan(lambda a: a.sum(-1))


@pytest.mark.parametrize("max_plans", [100_000, 10])  # exhaustive, then categorical CEM
def test_discrete_search_finds_a_shortest_path(max_plans: int) -> None:
    planner = DiscreteSearch(horizon=4, num_actions=5, max_plans=max_plans, population=200, elites=20)
    assert planner.exhaustive == (max_plans >= 5**4)
    plan = planner.plan(grid_score)
    assert plan.shape == (4,) and plan.dtype == torch.int64
    at_goal = (grid_positions(plan[None])[0] == GOAL).all(-1)
    assert int(at_goal.int().argmax()) + 1 == 3 and bool(at_goal[2:].all())  # Manhattan distance 3, then stays
    assert planner.last_return == -3.0
    assert torch.equal(planner.previous, torch.cat([plan[1:], plan[-1:]]))


def test_enumeration_covers_every_plan_once() -> None:
    planner = DiscreteSearch(horizon=3, num_actions=4, chunk_size=7)
    plans = torch.cat([planner.enumerate_plans(s, min(s + 7, 64)) for s in range(0, 64, 7)])
    assert len({tuple(p) for p in plans.tolist()}) == 64 and plans.min() == 0 and plans.max() == 3
    seen = []
    planner.plan(lambda p: seen.append(len(p)) or torch.zeros(len(p)))
    assert seen == [7] * 9 + [1]


@pytest.fixture
def blocks_model():
    torch.manual_seed(0)
    return build_world_model("sen", **TINY_WIDTHS)


@pytest.fixture
def reacher_model():
    torch.manual_seed(0)
    return build_world_model("sen", **REACHER_MODEL, **TINY_WIDTHS).eval()


def _obs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("objective", ["reward", "goal"])
def test_mpc_blocks_discrete(blocks_model, objective: str) -> None:
    agent = MPCAgent(blocks_model, DiscreteSearch(horizon=2, num_actions=20), objective=objective)
    if objective == "goal":
        with pytest.raises(ValueError, match="set_goal"):
            agent.act(_obs((3, 50, 50), 0))
        agent.set_goal(_obs((3, 50, 50), 1))
    blocks_model.train()
    action = agent.act(_obs((3, 50, 50), 0))
    assert isinstance(action, int) and blocks_model.training  # mode restored after planning
    with torch.no_grad():  # every one of the 20^2 plans, scored by hand: the action starts a best one
        plans = agent.planner.enumerate_plans(0, 400)
        scores = agent.scorer(agent.model.encode(torch.as_tensor(_obs((3, 50, 50), 0))[None].float() / 255))(plans)
    assert agent.last_plan_return == pytest.approx(float(scores.max()), rel=1e-5)
    assert float(scores[plans[:, 0] == action].max()) == pytest.approx(float(scores.max()), rel=1e-5)
    assert agent.last_plan_time > 0


def test_goal_objective_picks_the_closest_one_step_latent(blocks_model) -> None:
    """Horizon 1: the chosen action minimises the energy to the goal, checked action by action."""
    agent = MPCAgent(blocks_model, DiscreteSearch(horizon=1, num_actions=20), objective="goal")
    obs, goal = _obs((3, 50, 50), 2), _obs((3, 50, 50), 3)
    agent.set_goal(goal)
    action = agent.act(obs)
    blocks_model.eval()
    with torch.no_grad():
        z0, zg = (blocks_model.encode(torch.as_tensor(o)[None].float() / 255) for o in (obs, goal))
        energies = torch.stack(
            [blocks_model.energy(blocks_model.step(z0, torch.tensor([a])), zg)[0] for a in range(20)]
        )
    assert action == int(energies.argmin())
    assert agent.last_plan_return == pytest.approx(-float(energies.min()), rel=1e-5)


@pytest.mark.parametrize("objective", ["reward", "goal"])
@pytest.mark.parametrize("exploration_std", [0.0, 0.5])
def test_mpc_reacher_continuous(reacher_model, objective: str, exploration_std: float) -> None:
    planner = CEM(horizon=3, action_dim=2, population=32, elites=4, iterations=2)
    agent = MPCAgent(reacher_model, planner, objective=objective, exploration_std=exploration_std)
    if objective == "goal":
        agent.set_goal(_obs((6, 64, 64), 1))
    for step in range(2):
        action = agent.act(_obs((6, 64, 64), step))
        assert action.dtype == np.float32 and action.shape == (2,) and np.all(np.abs(action) <= 1)
    assert planner.mean is not None
    agent.reset()
    assert planner.mean is None


def test_terminal_value_adds_the_reward_of_holding_still_at_the_end(blocks_model, reacher_model) -> None:
    """terminal_weight = w adds w x r(z_H, 0) to the sum of rewards along the plan."""
    torch.manual_seed(0)
    z0, plans = torch.randn(1, 1, reacher_model.latent_type.size), torch.rand(5, 3, 2) * 2 - 1
    with torch.no_grad():
        plain, valued = reward_objective(reacher_model, z0)(plans), reward_objective(reacher_model, z0, 2.5)(plans)
        z_last = reacher_model.rollout(z0.expand(5, -1, -1), plans)[:, -1]
        expected = plain + 2.5 * reacher_model.reward(z_last, torch.zeros(5, 2))
    assert torch.allclose(valued, expected, atol=1e-6) and not torch.allclose(valued, plain)
    with pytest.raises(ValueError, match="terminal_weight must be >= 0"):
        MPCAgent(reacher_model, CEM(horizon=2, action_dim=2), terminal_weight=-1.0)
    with pytest.raises(ValueError, match="0 with a discrete planner"):
        MPCAgent(blocks_model, DiscreteSearch(1, 20), terminal_weight=1.0)


def test_mpc_rejects_mismatched_setups(blocks_model, reacher_model) -> None:
    with pytest.raises(ValueError, match="objective"):
        MPCAgent(blocks_model, DiscreteSearch(1, 20), objective="value")
    with pytest.raises(ValueError, match="DiscreteSearch for 'directions'"):
        MPCAgent(reacher_model, DiscreteSearch(1, 20))
    with pytest.raises(ValueError, match="num_actions=20"):
        MPCAgent(blocks_model, DiscreteSearch(1, 16))
    with pytest.raises(ValueError, match="epsilon"):
        MPCAgent(blocks_model, DiscreteSearch(1, 20), exploration_std=0.1)
    with pytest.raises(ValueError, match="uint8"):
        MPCAgent(blocks_model, DiscreteSearch(1, 20)).act(np.zeros((3, 50, 50), np.float32))


@pytest.mark.parametrize("domain", ["blocks", "reacher"])
def test_batched_rollout_equals_sequential_steps(blocks_model, reacher_model, domain: str) -> None:
    model = (blocks_model if domain == "blocks" else reacher_model).eval()
    z0 = torch.randn(16, model.slots, 8)
    actions = torch.randint(0, 20, (16, 4)) if domain == "blocks" else torch.rand(16, 4, 2) * 2 - 1
    with torch.no_grad():
        zs = model.rollout(z0, actions)
        z = z0
        for t in range(4):
            z = model.step(z, actions[:, t])
            assert torch.allclose(zs[:, t + 1], z, atol=1e-5)
    assert zs.shape == (16, 5, model.slots, 8) and torch.equal(zs[:, 0], z0)


def test_goal_objective_final_scores_last_step(blocks_model) -> None:
    blocks_model.eval()
    z0, zg = torch.randn(1, 5, 8), torch.randn(1, 5, 8)
    plans = torch.randint(0, 20, (6, 3))
    with torch.no_grad():
        final = goal_objective(blocks_model, z0, zg, "final")(plans)
        best = goal_objective(blocks_model, z0, zg, "best")(plans)
        last = blocks_model.rollout(z0.expand(6, 5, 8), plans)[:, -1]
    assert torch.allclose(final, -blocks_model.energy(last, zg.expand(6, 5, 8))) and bool((best >= final).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to compare with the CPU plan")
def test_same_plan_on_cuda_as_on_cpu(blocks_model) -> None:
    plans = [CEM(3, 2, device=d).plan(quadratic(TARGET)).cpu() for d in ("cpu", "cuda")]
    assert torch.allclose(plans[0], plans[1], atol=0.05)  # both reach the optimum; the noise streams differ
    obs, goal = _obs((3, 50, 50), 4), _obs((3, 50, 50), 5)
    actions, returns, tf32 = [], [], torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # escnn's 1x1 convs would otherwise run in TF32 on cuda
    try:
        for device in ("cpu", "cuda"):
            agent = MPCAgent(blocks_model.to(device), DiscreteSearch(2, 20), objective="goal")
            agent.set_goal(goal)
            actions.append(agent.act(obs))
            returns.append(agent.last_plan_return)
    finally:
        blocks_model.to("cpu")
        torch.backends.cudnn.allow_tf32 = tf32
    assert actions[0] == actions[1] and returns[0] == pytest.approx(returns[1], rel=1e-4)


def oracle_scorer(state: np.ndarray, goal: np.ndarray, reduce: str = "discounted"):
    """The goal objective on the env's true dynamics: energy = squared cell distance to the goal,
    summed over objects (what a latent that encodes positions would give)."""

    def score(plans: torch.Tensor) -> torch.Tensor:
        states, energies = np.repeat(state[None], len(plans), 0), []
        for t in range(plans.shape[1]):
            states = step_states(states, plans[:, t].numpy())
            energies.append(((states - goal) ** 2).sum((1, 2)))
        return goal_values(torch.tensor(np.stack(energies, 1), dtype=torch.float32), reduce)

    return score


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_goal_search_with_true_dynamics_reaches_every_goal(horizon: int) -> None:
    """Closed loop on the env: goals 1, 2 and 3 moves away are all reached within 10 steps."""
    env = BlockPushingEnv(goal_conditioned=True, render_style="shapes", image_size=25)
    planner = DiscreteSearch(horizon=horizon, num_actions=20)
    for distance in (1, 2, 3):
        for seed in range(20):
            env.reset(seed=seed, options={"goal_distance": distance})
            planner.reset()
            for _ in range(10):
                plan = planner.plan(oracle_scorer(env.get_state(), env.goal_state))
                if env.step(int(plan[0]))[2]:
                    break
            assert np.array_equal(env.get_state(), env.goal_state), (horizon, distance, seed)


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_goal_search_at_the_goal_moves_nothing(horizon: int) -> None:
    env = BlockPushingEnv(goal_conditioned=True)
    planner = DiscreteSearch(horizon=horizon, num_actions=20)
    for seed in range(10):
        env.reset(seed=seed)
        state = env.get_state()
        plan = planner.plan(oracle_scorer(state, state))
        assert np.array_equal(step_states(state[None], plan[:1].numpy())[0], state)


def test_best_step_objective_stalls_and_discounted_does_not() -> None:
    """Why the default is ``discounted``: with ``best``, "wait, then move" ties with "move now"."""
    env = BlockPushingEnv(goal_conditioned=True)
    env.reset(seed=0, options={"goal_distance": 1})
    values = oracle_scorer(env.get_state(), env.goal_state, "best")(DiscreteSearch(2, 20).enumerate_plans(0, 400))
    assert int((values == values.max()).sum()) > 1 + 20  # more than "move now, then anything that keeps it"
    values = oracle_scorer(env.get_state(), env.goal_state)(DiscreteSearch(2, 20).enumerate_plans(0, 400))
    firsts = DiscreteSearch(2, 20).enumerate_plans(0, 400)[values == values.max(), 0]
    nexts = step_states(np.repeat(env.get_state()[None], len(firsts), 0), firsts.numpy())
    assert all(np.array_equal(n, env.goal_state) for n in nexts)


def test_ties_are_broken_at_random_not_by_index() -> None:
    planner = DiscreteSearch(horizon=1, num_actions=20, seed=0)
    picks = {int(planner.plan(lambda p: torch.zeros(len(p)))[0]) for _ in range(50)}
    assert len(picks) > 10
