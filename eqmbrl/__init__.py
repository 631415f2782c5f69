"""eqmbrl: model-based RL with equivariant world models (after SEN, Park, Biza et al., ICML 2022).

``import eqmbrl`` registers the ``eqmbrl/...`` gymnasium ids (``envs``' registration only; no env
module is imported until ``gymnasium.make``). The vocabulary lives in :mod:`eqmbrl.core`, the
application in :mod:`eqmbrl.run` (``python -m eqmbrl.run``), :mod:`eqmbrl.load` (open a finished
run) and their siblings; README.md shows the library use.
"""

import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids; envs/__init__ imports no eqmbrl module)
