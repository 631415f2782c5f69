"""Gymnasium environments of eqmbrl, registered on import of this package.

| id | what |
|---|---|
| ``eqmbrl/BlockPushing-cubes-v0`` | 5x5 grid, 5 objects, 20 actions, isometric 3D cubes, 50x50 RGB |
| ``eqmbrl/BlockPushing-shapes-v0`` | the same with 2D shapes |
| ``eqmbrl/BlockPushingGoal-cubes-v0`` / ``-shapes-v0`` | goal-conditioned variant (reward, success) |
| ``eqmbrl/Reacher-pixels-v0`` | MuJoCo Reacher from a top-down camera, 2 stacked frames, random goal |
| ``eqmbrl/ReacherFixedGoal-pixels-v0`` | the same with the goal fixed at (0.2, 0.2) |
| ``eqmbrl/Teapot-v0`` | the 3D teapot in SO(3), 64x64 grey, rotation vectors (``actions="discrete"``: 6 turns) |
| ``eqmbrl/TeapotGoal-v0`` | goal-conditioned variant (a goal orientation some turns away; success within half a turn) |

Each env's ``unwrapped`` exposes ``symmetry`` (an :class:`eqmbrl.core.symmetry.EnvSymmetry`),
``get_state()`` and ``render_states(states) -> uint8 [B, C, H, W]``;
:func:`envs.env_checker.check_symmetric_env` checks that contract for every group element.
"""

from gymnasium.envs.registration import register, registry


def _register(env_id: str, entry_point: str, **kwargs: object) -> None:
    if env_id not in registry:
        register(id=env_id, entry_point=entry_point, kwargs=kwargs)


for _style in ("cubes", "shapes"):
    _register(
        f"eqmbrl/BlockPushing-{_style}-v0", "envs.block_pushing:BlockPushingEnv", render_style=_style, episode_steps=100
    )
    _register(
        f"eqmbrl/BlockPushingGoal-{_style}-v0",
        "envs.block_pushing:BlockPushingEnv",
        render_style=_style,
        goal_conditioned=True,
        episode_steps=10,
    )
_register("eqmbrl/Reacher-pixels-v0", "envs.reacher:ReacherPixelsEnv", fixed_goal=False)
_register("eqmbrl/ReacherFixedGoal-pixels-v0", "envs.reacher:ReacherPixelsEnv", fixed_goal=True)
_register("eqmbrl/Teapot-v0", "envs.teapot:TeapotEnv")
_register("eqmbrl/TeapotGoal-v0", "envs.teapot:TeapotEnv", goal_conditioned=True)
