"""eqmbrl's core vocabulary: what ``envs``, ``worldmodels`` and ``agents`` may import from ``eqmbrl``.

``types`` (batch types and the shape legend), ``directions`` (the push-direction action
convention), ``symmetry`` (groups, how g acts on states, actions and latents, ``check_equivariance``),
``buffer`` (the replay buffer), ``checkpoint`` (atomic writes, saves with one RNG helper),
``logger`` (TensorBoard), ``choices`` (one wording for bad choices), ``seeds`` (seed offsets and
RNG state), ``config`` (Hydra schemas from signatures), ``rundir`` (run directories).
The application (``eqmbrl.run``, ``trainer``, ``data``, ``online``, ``rl``, ``resume``, ``report``)
imports everything; nothing here imports the application or another top-level package.
"""
