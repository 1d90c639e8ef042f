"""Mixed precision and compilation for the trainer (``train.precision``, ``train.compile``).

* ``precision="bf16"``: the forward pass and the loss run under ``torch.autocast`` with
  bfloat16 (CPU and CUDA): matrix products in bf16 (about 4x faster on CPUs with AVX512-BF16
  or AMX, and on tensor cores), reductions and losses that autocast keeps in fp32 stay fp32;
  parameters, gradients and the optimiser state stay fp32 (no loss scaling needed for bf16).
* ``compile=True``: the model's ``forward`` goes through ``torch.compile`` (the loss and the
  sampler stay eager), with the same random draws as eager (see :func:`compiled`) and, full
  batch, the same precomputed :class:`~graphemb.nn.graph_ops.GraphOps` (its sparse products run
  eager between the compiled pieces: torch.compile does not trace sparse tensors). Optional: on
  CPU it rarely pays (Cora IsoC-VGAE epoch 0.95x eager after ~28 s of compiling, 1 thread;
  ``python experiments/bench_speed.py --compile``), so only for runs of hundreds of epochs.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import ContextManager

import torch

PRECISIONS = ("fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX); without
    either, torch emulates bf16 products, far slower than fp32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def autocast_context(precision: str, device: torch.device) -> ContextManager:
    """The context one training step (forward + loss) runs in. bf16 on a CPU without native
    bf16 matrix units warns (it is slower than fp32 there, see :func:`cpu_has_native_bf16`)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"train.precision=bf16 supports cpu and cuda, not {device.type}")
        if device.type == "cpu" and not cpu_has_native_bf16():
            warnings.warn("train.precision=bf16 on a CPU without AVX512-BF16 or AMX: torch emulates bf16 matrix "
                          f"products ({torch.backends.cpu.get_cpu_capability()} here), which makes training slower "
                          "than fp32, not faster (experiments/RESULTS.md, precision); use train.precision=fp32 "
                          "on this machine", RuntimeWarning, stacklevel=2)
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"train.precision must be one of {PRECISIONS}, got {precision!r}")


def compiled(model: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """``torch.compile(model)`` when ``enabled`` (shares the parameters), else ``model``.

    Compiled with Inductor's ``fallback_random``: random ops (IsoC-VGAE's ``eps``, dropout
    masks) then draw from torch's generator exactly as eager does. Inductor's own RNG would
    draw other numbers from the same seed, so compiled training would follow another sample
    path (IsoC-VGAE's epoch losses 2.7 % away from eager after 3 epochs) and ``train.seed``
    would not reproduce an eager run."""
    return torch.compile(model, options={"fallback_random": True}) if enabled else model
