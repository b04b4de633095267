"""The learning-rate warm-up starts above zero: no optimizer step runs at learning rate 0.

transformers' schedules warm up as ``step / warmup_steps`` for the 0-based step
index, so the first optimizer step runs at learning rate 0 (its logged ``lr`` is
``0.00e+00``) and does nothing but advance Adam's moments. Here the warm-up part
becomes ``(step + 1) / (warmup_steps + 1)``: it still rises linearly and reaches
the peak at the same step, every step after the warm-up is unchanged (cosine,
linear, constant: the same values), and the first step trains at
``peak / (warmup_steps + 1)``. The wrapped lambdas are plain closures, so the
scheduler's state_dict (last step, last lr) saves and resumes as before.
"""

from __future__ import annotations


def _above_zero(fn, warmup_steps: int):
    def lr_lambda(step: int) -> float:
        if step < warmup_steps:
            return float(step + 1) / float(warmup_steps + 1)
        return fn(step)

    return lr_lambda


def warm_up_above_zero(scheduler, warmup_steps: int):
    """Make a LambdaLR ``scheduler`` (what transformers' get_scheduler builds) start its warm-up above zero.

    In place, once (a second call is a no-op), before the first optimizer step; returns the scheduler.
    """
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if warmup_steps <= 0 or lambdas is None or getattr(scheduler, "_tunedeck_warmup", False):
        return scheduler
    scheduler.lr_lambdas = [_above_zero(fn, warmup_steps) for fn in lambdas]
    scheduler._tunedeck_warmup = True
    step = scheduler.last_epoch
    optimizer = scheduler.optimizer
    for group, fn in zip(optimizer.param_groups, scheduler.lr_lambdas, strict=True):
        group["lr"] = group["initial_lr"] * fn(step)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    return scheduler
