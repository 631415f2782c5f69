"""Tools that look inside trained runs: what a world model or planner gets right and wrong.

Each is ``python -m eqmbrl.diagnostics.NAME RUN_DIR [options]`` (prints JSON and writes it to
``RUN_DIR/diagnostics/NAME.json``) and a typed function on a run opened by
:func:`eqmbrl.load.load_run`, all on fresh episodes (:mod:`eqmbrl.diagnostics.common`):

- :mod:`~eqmbrl.diagnostics.directions`: block-pushing successor accuracy per push direction
  (:func:`~eqmbrl.diagnostics.directions.successor_by_direction`), e.g. of a direction never trained on;
- :mod:`~eqmbrl.diagnostics.oracle`: the run's planner on the true dynamics (block-pushing goals,
  Reacher in MuJoCo): the ceiling of the planner and its objective;
- :mod:`~eqmbrl.diagnostics.horizon`: a reward-MPC run's return against the planning horizon;
- :mod:`~eqmbrl.diagnostics.probe`: linear probes of the env state from the latents, R² per target.
"""
