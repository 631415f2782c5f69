"""World-model training throughput (transitions/s of forward + backward + Adam), side by side.

    .venv/bin/python bench/bench_training.py [--configs default-cubes paper-cubes ...] [--repeats 5]

For each config, one run measures in turn (round-robin, median of ``--repeats`` timed steps after
a warm-up step each):

- ``sen escnn``: the SEN model executed by escnn itself (what every model did before the fast path);
- ``sen dense`` / ``sen fourier``: the same parameters executed as plain matmuls on escnn's expanded
  filters, and with the regular-to-regular maps in the irrep basis (``worldmodels.layers``);
- ``none dense``: the non-equivariant model of the same widths (trivial group, so its layers are
  unconstrained dense maps: a plain torch model);
- ``none escnn``: that model through escnn, for reference.

One torch thread unless ``--threads`` says otherwise. Prints a markdown table; ratios are against
``sen escnn`` of the same config.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from eqmbrl.core.types import SequenceBatch
from eqmbrl.run import configured_model_kwargs
from worldmodels.layers import set_execution
from worldmodels.world_model import build_world_model

CONFIGS = {  # name: the ``python -m eqmbrl.run`` overrides whose model and batch size are timed
    "default-cubes": ("env=cubes",),
    "default-reacher": ("env=reacher",),
    "paper-cubes": ("experiment=paper_cubes",),
}
FORMS = (("sen", "escnn"), ("sen", "dense"), ("sen", "fourier"), ("none", "dense"), ("none", "escnn"))


def batch_for(kwargs: dict, batch: int, device: str) -> SequenceBatch:
    """Random (obs, action, next obs, reward) sequences of length 1 shaped for ``kwargs``'s model."""
    c, s = kwargs["in_channels"], kwargs["image_size"]
    actions = (
        torch.randint(0, 20, (batch, 1))
        if kwargs["action_encoding"] == "directions"
        else torch.rand(batch, 1, kwargs["action_dim"]) * 2 - 1
    )
    return SequenceBatch(torch.rand(batch, 2, c, s, s), actions, torch.rand(batch, 1)).to(device)


def step_seconds(
    loss_fn: Callable[[SequenceBatch], dict[str, torch.Tensor]],
    opt: torch.optim.Optimizer,
    data: SequenceBatch,
    device: str,
) -> float:
    """Wall time of one training step."""
    start = time.perf_counter()
    loss = loss_fn(data)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(config: str, repeats: int, device: str, compiled: bool = False) -> tuple[int, dict[tuple[str, str], float]]:
    """Batch size and median transitions/s of every form of ``config``'s model, timed round-robin. ``compiled``
    adds ``sen dense+compile``: the loss under ``torch.compile`` (inductor; its first call, which
    compiles, is the untimed warm-up)."""
    kwargs, cfg = configured_model_kwargs(*CONFIGS[config])
    kwargs.pop("variant")
    batch = int(cfg.trainer.batch_size)
    data = batch_for(kwargs, batch, device)
    runs = {}
    for variant, execution in FORMS + ((("sen", "dense+compile"),) if compiled else ()):
        torch.manual_seed(0)
        model = set_execution(build_world_model(variant, **kwargs).to(device), execution.split("+")[0])
        loss_fn = torch.compile(model.loss) if execution.endswith("+compile") else model.loss
        runs[variant, execution] = (loss_fn, torch.optim.Adam(model.parameters(), lr=5e-4), [])
    for i in range(repeats + 1):
        for loss_fn, opt, times in runs.values():
            seconds = step_seconds(loss_fn, opt, data, device)
            if i:  # the first step warms up allocators and escnn's bases (and compiles)
                times.append(seconds)
    return batch, {form: batch / statistics.median(times) for form, (_, _, times) in runs.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compile", action="store_true", help="also time the loss under torch.compile")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {args.device}\n")
    print("| config | batch | model | execution | transitions/s | vs sen escnn |\n|---|---:|---|---|---:|---:|")
    for config in args.configs:
        batch, rates = measure(config, args.repeats, args.device, args.compile)
        for (variant, execution), rate in rates.items():
            ratio = rate / rates["sen", "escnn"]
            print(
                f"| {config} | {batch} | {variant} | {execution} | {rate:,.0f} | {ratio:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
