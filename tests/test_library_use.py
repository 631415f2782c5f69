"""eqmbrl as a library: the README's example run as written, ``import eqmbrl`` registering the gym
ids, and agents that need a reward stopping at start on the reward-free block-pushing envs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import eqmbrl  # noqa: F401  (registers the eqmbrl/ ids)
from eqmbrl.headlines import HEADLINES
from eqmbrl.rl import env_option, require_reward
from eqmbrl.run import compose_config, run

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FRESH_MACHINE = (  # .ci/run runs the second verbatim
    "bash scripts/setup.sh && .venv/bin/python -m eqmbrl.run",
    "bash scripts/setup.sh && .venv/bin/python -m pytest",
)


def readme_python_block() -> str:
    """The first ```python block of README.md, as written."""
    match = re.search(r"^```python\n(.*?)^```", README.read_text(), re.DOTALL | re.MULTILINE)
    assert match is not None, "README.md has no ```python block"
    return match.group(1)


def fresh_python(code: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """``python -c code`` in a new interpreter (the checkout on its path), output captured."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


# --------------------------------------------------------------------------- the README
@pytest.mark.slow  # a subprocess (about 5 s on an idle core)
def test_readme_library_example_runs_as_written(tmp_path: Path) -> None:
    res = fresh_python(readme_python_block(), cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    shape, action, policy_action = res.stdout.split("\n")[-2].rsplit(" ", 2)
    assert shape == "(1, 5, 8)"  # 5 object slots of 2 regular C4 fields
    assert 0 <= int(action) < 20 and 0 <= int(policy_action) < 20
    assert list(tmp_path.iterdir()) == []  # the example writes no files


def test_readme_keeps_the_fresh_machine_commands_a_headline_table_and_live_links() -> None:
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 200
    for command in FRESH_MACHINE:
        assert command in lines, f"README.md lost the line {command!r}"
    assert FRESH_MACHINE[1] in (ROOT / ".ci" / "run").read_text().splitlines()
    section = text.split("## Headline results", 1)[1].split("\n## ", 1)[0]
    assert "RESULTS.md" in section and "python -m eqmbrl.reproduce --list" in section
    shown = re.findall(r"^\| `(\w+)`:", section, flags=re.M)
    assert shown and set(shown) <= set(HEADLINES), f"README's headline table names unknown headlines {shown}"
    targets = re.findall(r"\]\(([^)#\s]+)", text)
    assert targets, "README.md links to nothing"
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert not missing, f"README.md links to missing files {missing}"


@pytest.mark.slow  # a fresh interpreter, so that nothing else has registered the ids
def test_import_eqmbrl_registers_the_gym_ids(tmp_path: Path) -> None:
    code = (
        "import gymnasium\n"
        "ids = [i for i in gymnasium.registry if i.startswith('eqmbrl/')]\n"
        "assert not ids, ids\n"
        "import eqmbrl\n"
        "env = gymnasium.make('eqmbrl/BlockPushingGoal-shapes-v0')\n"
        "print(env.reset(seed=0)[0].shape, sorted(i for i in gymnasium.registry if i.startswith('eqmbrl/')))\n"
    )
    res = fresh_python(code, cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.startswith("(3, 50, 50) ")
    for env_id in ("BlockPushing-cubes-v0", "BlockPushingGoal-cubes-v0", "Reacher-pixels-v0"):
        assert f"'eqmbrl/{env_id}'" in res.stdout


# --------------------------------------------------------------------------- agents that need a reward
@pytest.mark.parametrize("style", ["cubes", "shapes"])
def test_plain_boards_reward_nothing_and_name_their_rewarded_goal_variant(style: str) -> None:
    actions = np.random.default_rng(0).integers(0, 20, 40)
    with gym.make(f"eqmbrl/BlockPushing-{style}-v0") as plain:
        plain.reset(seed=0)
        assert {plain.step(int(a))[1] for a in actions} == {0.0}
        variant = plain.unwrapped.rewarded_variant  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match=f"use env={style}_goal "):
            require_reward(plain, "agent=ppo")
    variant_id, reward = variant
    assert variant_id == f"eqmbrl/BlockPushingGoal-{style}-v0" and "/5 each step" in reward
    assert env_option(variant_id) == f"env={style}_goal"
    with gym.make(variant_id) as goal:
        goal.reset(seed=0)
        assert goal.unwrapped.rewarded_variant is None  # type: ignore[attr-defined]
        require_reward(goal, "agent=ppo")  # no error: its steps are rewarded
        rewards = [float(goal.step(int(a))[1]) for a in actions[:3]]
    assert all(-1.0 <= r < 0 for r in rewards)  # objects off their goal cells cost reward


def test_env_option_falls_back_to_the_gym_id() -> None:
    assert env_option("eqmbrl/Reacher-pixels-v0") == "env=reacher"
    assert env_option("NoSuchEnv-v0") == "NoSuchEnv-v0"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("env=cubes", "agent=ppo"), "agent=ppo needs a reward, but eqmbrl/BlockPushing-cubes-v0"),
        (("env=shapes", "agent=sac"), "agent=sac needs a reward, but eqmbrl/BlockPushing-shapes-v0"),
        (
            ("env=cubes", "agent=cem"),
            "latent MPC with agent.objective=reward needs a reward, but eqmbrl/BlockPushing-cubes-v0",
        ),
        (
            ("env=shapes", "agent=search", "agent.objective=reward"),
            "latent MPC with agent.objective=reward needs a reward, but eqmbrl/BlockPushing-shapes-v0",
        ),
    ],
)
def test_an_agent_that_needs_a_reward_stops_before_training_on_a_reward_free_env(
    tmp_path: Path, overrides: tuple[str, ...], message: str
) -> None:
    style = overrides[0].removeprefix("env=")
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        run(compose_config("experiment=debug", *overrides), tmp_path)
    text = str(err.value)
    assert "\n" not in text and f"rewards 0 on every step: use env={style}_goal (eqmbrl/BlockPushingGoal-" in text
    assert (tmp_path / "FAILED").is_file()  # marked failed, and nothing was collected or trained
    assert not [p.name for p in tmp_path.iterdir() if p.suffix in (".npz", ".pt", ".zip")]
