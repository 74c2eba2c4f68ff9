"""GPU memory per epoch: the peak of ``torch.cuda.max_memory_allocated`` since the last reading.

Logged as ``gpu_mem_gb`` in the learning curves of image and signal runs when they train on CUDA
(absent on CPU), so a batch size or image size that nearly fills the card shows before it fails.
"""

from __future__ import annotations

from typing import Any

__all__ = ["peak_gpu_memory_gb"]


def peak_gpu_memory_gb(device: Any) -> float | None:
    """GiB peak allocated on CUDA ``device`` since the previous call (the peak counter is reset);
    None for a non-CUDA device or when CUDA is unavailable.

    >>> import torch
    >>> peak_gpu_memory_gb(torch.device("cpu")) is None
    True
    """
    import torch

    if getattr(device, "type", str(device)) != "cuda" or not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return float(peak)
