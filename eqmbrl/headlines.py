"""The headline results: for each, the sweep that makes it at each budget, the columns of its table
and the paper's numbers beside ours. :mod:`eqmbrl.reproduce` runs, scores and writes them.

Budgets: ``smoke`` (tiny sizes, well under a minute: a check that the pipeline runs end to end, its
numbers mean nothing), ``cpu`` (what RESULTS.md shows: fits the 2-core development machine) and
``paper`` (SEN's own data and epochs where the paper states them; hours on a GPU). Costs are wall
minutes of the whole sweep (3 seeds) with 2 jobs sharing 2 CPU cores, as measured with other work on
the machine (``~``: estimated, not yet run at that budget).

Paper numbers: SEN (Park, Biza, Zhao, van de Meent, Walters, *Learning Symmetric Embeddings for
Equivariant World Models*, ICML 2022), its poster and the earlier (ICLR 2022 submission) version,
as collected in ``shared/reference/SEN_RESULTS.md``. SEN reports prediction metrics only; it never
planned or acted, so the agent tables have no paper column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

SEN = "SEN (ICML 2022)"
SEN_EARLY = "SEN (earlier ICLR 2022 version)"

# World-model training at smoke size: every budget knob of trainer.* and the widths, tiny.
SMOKE_TRAINER = (
    "trainer.episodes=6",
    "trainer.episode_length=10",
    "trainer.eval_episodes=12",
    "trainer.eval_length=10",
    "trainer.epochs=1",
    "trainer.min_epochs=0",
    "trainer.batch_size=32",
    "trainer.val_episodes=2",
    "worldmodel.hidden=32",
    "worldmodel.embed_hidden=32",
    "worldmodel.cnn_channels=8",
)
SMOKE_GOALS = (*SMOKE_TRAINER, "agent.episodes=1", "agent.eval_episodes=1")
AUGMENTED = (
    "`none_aug` is `none` trained on symmetry-augmented batches (`worldmodel=none_aug`: "
    "`trainer.symmetry_augment=1`, every sequence re-rendered under a uniformly drawn group element); "
    "`full` is the steerable (escnn) embedding. "
)


@dataclasses.dataclass(frozen=True)
class Column:
    """One table column: the metric ``key`` (``evaluate/...`` for :mod:`eqmbrl.evaluate`'s fresh
    episodes), its heading, and ``scale`` (100: a fraction shown in percent)."""

    key: str
    label: str
    scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class Headline:
    """One headline result (module doc). ``sweep``: Hydra overrides of every budget, with the swept
    axes comma-separated (``worldmodel=sen,none``); ``budgets``: each budget's own overrides;
    ``minutes``: each budget's cost; ``paper``: row label (the swept values, e.g. ``sen``) -> column
    key -> the paper's figure; ``evaluate``: fresh episodes per goal distance (or in all) that
    :mod:`eqmbrl.evaluate` scores each run on (0: none); ``by_direction``: also score successor
    accuracy per push direction (:mod:`eqmbrl.diagnostics.directions`); ``curve``: a TensorBoard tag
    drawn as a PNG; ``note``: what the table's reader must know (e.g. privileged training signals)."""

    name: str
    title: str
    sweep: tuple[str, ...]
    budgets: Mapping[str, tuple[str, ...]]
    minutes: Mapping[str, str]
    columns: tuple[Column, ...]
    paper: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    source: str = ""
    evaluate: int = 0
    by_direction: bool = False
    curve: str | None = None
    note: str = ""


MINUTES = Column("timing/wall_minutes", "minutes per run")
UNSEEN_GOALS = (
    "env=shapes_goal",
    "worldmodel=sen,none,none_aug",
    "agent.episodes=0",
    "trainer.train_directions=[0,2,3]",
)
UNSEEN_COLUMNS = (
    Column("evaluate/success_unseen", "goals needing a left push", 100),
    Column("evaluate/success_seen", "other goals", 100),
    Column("evaluate/goals_unseen", "goals needing a left push (count)"),
    Column("evaluate/random_success", "random agent", 100),
    Column("successor_acc", "successor acc."),
)

PREDICTION = (
    Column("hits@1/1step", "H@1 1 step"),
    Column("hits@1/10step", "H@1 10 steps"),
    Column("mrr/10step", "MRR 10 steps"),
    Column("successor_acc", "successor acc."),
    Column("ee", "EE"),
)
GOALS = (
    Column("evaluate/success", "fresh goals", 100),
    Column("evaluate/success_d1", "d=1", 100),
    Column("evaluate/success_d2", "d=2", 100),
    Column("evaluate/success_d3", "d=3", 100),
    Column("evaluate/random_success", "random agent", 100),
    Column("evaluate/still_success", "doing nothing", 100),
    Column("success", "fixed goals", 100),
    Column("successor_acc", "successor acc."),
)
LIMITED_BLOCKS = (
    "trainer.episodes=1000",
    "trainer.episode_length=10",
)
PAPER_BLOCKS = (
    "trainer.episodes=1000",
    "trainer.episode_length=100",
    "trainer.eval_episodes=10000",
    "trainer.epochs=100",
    "trainer.batch_size=1024",
    "worldmodel.hidden=512",
    "worldmodel.embed_hidden=512",
)
REACHER_PREDICTION_BUDGETS = {
    "smoke": SMOKE_TRAINER,
    "cpu": (
        "trainer.episodes=1000",
        "trainer.episode_length=10",
        "trainer.warmup_steps=50",
        "trainer.epochs=20",
        "trainer.eval_episodes=200",
    ),
    "paper": ("experiment=paper_reacher",),
}
REACHER_PREDICTION = (
    Column("hits@1/1step", "H@1 1 step"),
    Column("hits@10/1step", "H@10 1 step"),
    Column("mrr/1step", "MRR 1 step"),
    Column("ee", "EE"),
    Column("die/1step", "DIE 1 step"),
)
REACHER_MPC = (
    "experiment=reacher_mpc",
    "trainer.episodes=1000",
    "trainer.epochs=10",
    "trainer.reward_refit_steps=4000",
    "agent.refit_every=50",
    "agent.refit_steps=15",
    "agent.refit_online_fraction=0.5",
    "agent.final_reward_refit=true",
    "agent.eval_every=40",
)


SB3_GOALS_SMOKE = (
    *SMOKE_TRAINER,
    "agent=dqn_her",
    "agent.her=true,false",  # agent.total_steps is DQN's own: at smoke size the search row cannot come along
    "agent.total_steps=100",
    "agent.eval_every=100",
    "agent.eval_episodes=1",
    "agent.algo_kwargs.learning_starts=50",
    "agent.algo_kwargs.batch_size=8",
)


TEAPOT_GOALS = ("agent.episodes=0", "agent.goal_distances=[1,3,5]", "agent.eval_episodes=10")
TEAPOT = ("env=teapot_goal,teapot_goal_continuous", "worldmodel=sen,none", *TEAPOT_GOALS)
TEAPOT_TWO_AXES = (
    "env=teapot_goal_continuous",
    *TEAPOT_GOALS,
    "trainer.train_action_low=[-0.2094,0.0,-0.2094]",
    "trainer.train_action_high=[0.2094,0.0,0.2094]",
    "env.kwargs.goal_axes=[1]",  # large rotations keep the box's zero roll (eqmbrl.augment.LargeRotations)
)
TEAPOT_SMOKE = (
    *SMOKE_GOALS,
    "trainer.eval_episodes=6",
    "worldmodel.hidden=16",
    "agent.goal_distances=[1]",
    "agent.planner.population=20",
    "agent.planner.elites=4",
    "agent.planner.iterations=1",
)
TEAPOT_PAPER = ("trainer.episodes=10000", "trainer.epochs=100")  # 100,000 transitions, as SEN
TEAPOT_COLUMNS = (
    Column("turn_hits@1/yaw", "TH@1 yaw"),
    Column("turn_hits@1/pitch", "TH@1 pitch"),
    Column("turn_hits@1/roll", "TH@1 roll"),
    Column("hard_hits@1/1step", "HH@1 1 step"),
    Column("hits@1/1step", "H@1 1 step"),
    Column("ee", "EE"),
    Column("die/1step", "DIE 1 step (1e-2)", 100),
    Column("evaluate/success", "fresh goals", 100),
    Column("evaluate/random_success", "random agent", 100),
)
TEAPOT_POSTER_SEN = {
    "turn_hits@1/yaw": 100.0,
    "turn_hits@1/pitch": 100.0,
    "turn_hits@1/roll": 100.0,
    "hard_hits@1/1step": 100.0,
    "ee": 0.05,
    "die/1step": 0.45,
}
TEAPOT_POSTER_NONE = {
    "turn_hits@1/yaw": 6.7,
    "turn_hits@1/pitch": 60.0,
    "turn_hits@1/roll": 86.7,
    "hard_hits@1/1step": 93.9,
    "ee": 2.38,
    "die/1step": 3.41,
}


def goal_reaching(board: str, title: str, cpu_minutes: str, note: str = "") -> Headline:
    """The goal-reaching headline of one block-pushing board (``shapes`` or ``cubes``): the goal env's
    own budget and agent (``agent=search``), scored on 50 fresh goals per distance."""
    return Headline(
        name=f"goals_{board}",
        title=f"Goal reaching in {title}: latent search toward a goal image",
        sweep=(f"env={board}_goal", "worldmodel=sen,none"),
        budgets={"smoke": SMOKE_GOALS, "cpu": (), "paper": ()},
        minutes={"smoke": "0.5", "cpu": cpu_minutes, "paper": cpu_minutes},
        columns=GOALS,
        evaluate=50,
        note=note + "SEN did not plan or act: no paper column, and the paper budget is the cpu one.",
    )


HEADLINES: dict[str, Headline] = {
    h.name: h
    for h in (
        Headline(
            name="shapes_up",
            title="2D shapes trained on up pushes only, scored on all four directions",
            sweep=("env=shapes", "agent=none", "worldmodel=sen,none,none_aug,full", "trainer.train_directions=[0]"),
            budgets={
                "smoke": SMOKE_TRAINER,
                "cpu": (*LIMITED_BLOCKS, "trainer.epochs=25"),
                "paper": PAPER_BLOCKS,
            },
            minutes={"smoke": "1", "cpu": "41", "paper": "~1200"},
            columns=(*PREDICTION, Column("by_direction/down", "down (unseen) successor acc.", 100), MINUTES),
            paper={
                "sen": {"hits@1/10step": 100.0, "mrr/10step": 99.9, "ee": 0.0},
                "none": {"hits@1/10step": 2.8, "mrr/10step": 5.3},
                "full": {"hits@1/10step": 100.0, "mrr/10step": 99.9},
            },
            by_direction=True,
            note=AUGMENTED,
            source=f"{SEN}, generalisation table: 2D shapes {{up}}, 10 steps; its non-equivariant row is a plain "
            "CNN (MRR 5.3), ours a free embedding with a non-equivariant encoder and GNN",
        ),
        Headline(
            name="cubes_urd",
            title="3D cubes trained on up, right and down pushes, scored on all four (left never seen)",
            sweep=("env=cubes", "agent=none", "worldmodel=sen,none,none_aug,full", "trainer.train_directions=[0,2,3]"),
            budgets={
                "smoke": SMOKE_TRAINER,
                "cpu": (
                    *LIMITED_BLOCKS,
                    "trainer.epochs=100",
                    "trainer.min_epochs=20",
                    "trainer.patience=10",
                    "trainer.val_episodes=100",
                ),
                "paper": PAPER_BLOCKS,
            },
            minutes={"smoke": "0.5", "cpu": "~160", "paper": "~900"},
            columns=(*PREDICTION, Column("by_direction/left", "left (unseen) successor acc.", 100), MINUTES),
            paper={
                "sen": {"hits@1/10step": 99.9, "mrr/10step": 100.0},
                "none": {"hits@1/10step": 52.3, "mrr/10step": 61.8},
                "full": {"hits@1/10step": 83.7, "mrr/10step": 86.0},
            },
            note=AUGMENTED,
            source=f"{SEN}, generalisation table: 3D blocks {{up, right, down}}, 10 steps (Full: 83.7)",
            by_direction=True,
        ),
        Headline(
            name="reacher_prediction",
            title="Reacher with a fixed goal: one-step prediction",
            sweep=("env=reacher_fixed", "agent=none", "worldmodel=sen,none,full"),
            budgets=REACHER_PREDICTION_BUDGETS,
            minutes={"smoke": "0.5", "cpu": "~60", "paper": "~1200"},
            columns=REACHER_PREDICTION,
            paper={
                "sen": {"hits@10/1step": 100.0, "mrr/1step": 94.1},
                "none": {"hits@10/1step": 100.0, "mrr/1step": 88.3},
                "full": {"hits@10/1step": 100.0, "mrr/1step": 95.5},
            },
            source=f"{SEN_EARLY}, Reacher (fixed goal) 1-step table: 2,000 episodes of 128 x 128 images",
        ),
        Headline(
            name="reacher_limited",
            title="Reacher with a fixed goal trained on half the torques (second joint's >= 0), scored on all",
            sweep=(
                "env=reacher_fixed",
                "agent=none",
                "worldmodel=sen,none,none_aug,full",
                "trainer.train_action_low=[-1.0,0.0]",
            ),
            budgets=REACHER_PREDICTION_BUDGETS,
            minutes={"smoke": "1", "cpu": "~80", "paper": "~1600"},
            columns=(*REACHER_PREDICTION, MINUTES),
            note=AUGMENTED + "Training torques: the second joint's in [0, 1] (trainer.train_action_low); the "
            "evaluation episodes use every torque, so about half their transitions have a torque never seen in "
            "training, which D4's reflections (they negate both torques) map to seen ones. No paper counterpart.",
        ),
        goal_reaching("shapes", "2D shapes", "26", "The main job's setting (`python -m eqmbrl.run`). "),
        goal_reaching("cubes", "3D cubes", "16"),
        Headline(
            name="sb3_goals",
            title="Goal reaching in 2D shapes: latent search vs DQN + HER on the same world-model features",
            sweep=("env=shapes_goal",),
            budgets={"smoke": SB3_GOALS_SMOKE, "cpu": ("agent=search,dqn_her",), "paper": ("agent=search,dqn_her",)},
            minutes={"smoke": "1", "cpu": "17", "paper": "17"},
            columns=(
                *GOALS[:-1],
                Column("pretrain/successor_acc", "successor acc."),
                Column("timing/wall_minutes", "minutes per run"),
            ),
            evaluate=50,
            note="Both rows train the same SEN world model on the same random data (the main job's "
            "`trainer` budget), then act on its latents: `search` plans toward the goal image's latent "
            "(`agent=search`, the main job), `dqn_her` learns a Q-network on the frozen latents of the image "
            "and of the goal image (`agent=dqn_her`: SB3's DQN, MultiInputPolicy, HerReplayBuffer; "
            "20,000 env steps, `agent.total_steps`). Both are scored on the same goals, at most 10 steps each. "
            "The smoke budget runs DQN with and without HER (DQN's step budget is no option of latent search).",
        ),
        Headline(
            name="unseen_goals",
            title="Equivariance in acting: goals that need a push never seen in training",
            sweep=UNSEEN_GOALS,
            budgets={"smoke": SMOKE_GOALS, "cpu": (), "paper": ()},
            minutes={"smoke": "0.5", "cpu": "15", "paper": "15"},
            columns=(*UNSEEN_COLUMNS, MINUTES),
            evaluate=50,
            note=AUGMENTED + "No left push in training and no online phase (its exploration would push left). "
            "To our knowledge no published system reports acting on unseen actions.",
        ),
        Headline(
            name="unseen_data",
            title="Data efficiency: goals that need an unseen push, against the number of training transitions",
            sweep=UNSEEN_GOALS,
            budgets={
                "smoke": (*(o for o in SMOKE_GOALS if not o.startswith("trainer.episodes=")), "trainer.episodes=4,8"),
                "cpu": ("trainer.episodes=20,60,200",),
                "paper": ("trainer.episodes=20,60,200,600",),
            },
            minutes={"smoke": "1", "cpu": "~50", "paper": "~150"},
            columns=(*UNSEEN_COLUMNS, Column("by_direction/left", "left (unseen) successor acc.", 100), MINUTES),
            evaluate=50,
            by_direction=True,
            note=AUGMENTED + "Rows: training episodes of 50 random steps (20, 60, 200 = 1,000, 3,000, 10,000 "
            "transitions; `unseen_goals` is 100) and model; no left push in training, no online phase.",
        ),
        Headline(
            name="reacher_mpc",
            title="Reacher from pixels: online latent MPC (CEM) with the learned reward",
            sweep=(*REACHER_MPC, "worldmodel=sen,none", "worldmodel.state_weight=10.0,0.0"),
            budgets={
                "smoke": (
                    *SMOKE_TRAINER,
                    "trainer.reward_refit_steps=5",
                    "agent.episodes=1",
                    "agent.eval_episodes=1",
                    "agent.planner.population=20",
                    "agent.planner.elites=4",
                    "agent.planner.iterations=1",
                    "agent.planner.horizon=3",
                    "agent.eval_every=1",
                ),
                "cpu": ("agent.episodes=120",),
                "paper": ("agent.episodes=240",),
            },
            minutes={"smoke": "1", "cpu": "~800", "paper": "~1300"},
            columns=(
                Column("evaluate/return", "return, fresh episodes"),
                Column("evaluate/random_return", "random agent"),
                Column("evaluate/still_return", "zero torque"),
                Column("return", "return, fixed episodes"),
            ),
            evaluate=20,
            note="`worldmodel.state_weight=10` trains a state head that decodes the true arm state "
            "(privileged information in training); the `0.0` rows are pixels only. gymnasium's solved "
            "threshold for state-based Reacher is -3.75.",
        ),
        Headline(
            name="sac_frozen",
            title="Reacher from pixels: SAC on frozen world-model features",
            sweep=("experiment=reacher_mpc", "agent=sac", "worldmodel=sen,none", "agent.eval_every=5000"),
            budgets={
                "smoke": (
                    *SMOKE_TRAINER,
                    "agent.total_steps=300",
                    "agent.eval_every=150",
                    "agent.algo_kwargs.learning_starts=100",
                    "agent.eval_episodes=1",
                ),
                "cpu": ("agent.total_steps=100000", "agent.eval_episodes=20"),
                "paper": ("agent.total_steps=500000", "agent.eval_episodes=20"),
            },
            minutes={"smoke": "1", "cpu": "~600", "paper": "~3000"},
            columns=(
                Column("evaluate/return", "return, fresh episodes"),
                Column("evaluate/random_return", "random agent"),
                Column("evaluate/still_return", "zero torque"),
                Column("return", "return, fixed episodes"),
            ),
            evaluate=20,
            curve="eval/return",
            note="The world model is pretrained on random data (the reacher_mpc recipe), then frozen; SAC "
            "learns an MLP policy on its cached latents. Pixels only.",
        ),
        Headline(
            name="teapot",
            title="3D teapot in SO(3): MatMul world model, turn and hard hits, and goal orientations reached",
            sweep=TEAPOT,
            budgets={"smoke": TEAPOT_SMOKE, "cpu": (), "paper": TEAPOT_PAPER},
            minutes={"smoke": "0.7", "cpu": "72", "paper": "~1200"},
            columns=TEAPOT_COLUMNS,
            paper={
                "teapot_goal_continuous sen": TEAPOT_POSTER_SEN,
                "teapot_goal_continuous none": TEAPOT_POSTER_NONE,
                "teapot_goal sen": {"hard_hits@1/1step": 31.6},
                "teapot_goal none": {"hard_hits@1/1step": 0.1},
            },
            source=f"{SEN} poster Table 1 (continuous rotations, most likely: 'Ours (MatMul)' and 'None'); "
            f"discrete rows: {SEN_EARLY}, HH@1 with the 6 turns (S)",
            evaluate=20,
            note="Rows: teapot_goal = the 6 discrete turns (latent search), teapot_goal_continuous = rotation vectors "
            "(CEM). TH@1 and HH@1 as defined in docs/teapot.md; DIE in units of 1e-2 as the poster. Goals 1, 3 "
            "and 5 random turns away, success within half a turn in 10 steps; no online phase.",
        ),
        Headline(
            name="teapot_two_axes",
            title="3D teapot trained on yaw and pitch rotations only, scored on all three axes and on roll goals",
            sweep=(*TEAPOT_TWO_AXES, "worldmodel=sen,none"),
            budgets={"smoke": TEAPOT_SMOKE, "cpu": (), "paper": TEAPOT_PAPER},
            minutes={"smoke": "0.5", "cpu": "53", "paper": "~300"},
            columns=TEAPOT_COLUMNS,
            evaluate=20,
            note="Training actions: rotation vectors with no roll component (trainer.train_action_low/high); "
            "evaluation episodes, turns and goals use all actions; goals are 1, 3 or 5 roll turns away "
            "(env.kwargs.goal_axes=[1]), so reaching them needs the unseen axis. No paper counterpart.",
        ),
    )
}
BUDGETS = ("smoke", "cpu", "paper")
DEFAULT_SEEDS = {"smoke": 1, "cpu": 3, "paper": 3}
SMOKE_EPISODES = 2  # fresh episodes (per goal distance) of eqmbrl.evaluate at the smoke budget
