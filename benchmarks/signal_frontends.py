"""Throughput of medalist's signal front-ends (signals/s), on CPU and on the GPU when one is present.

Each front-end (:mod:`medalist.signal.frontends`: stft, mel, mfcc, lfcc, rms, cwt) transforms a batch
of random waveforms (``--batch`` × ``--channels`` × ``--length`` samples at ``--sr`` Hz) on the
device; time is measured after ``--warmup`` calls over ``--repeats`` calls, synchronising the GPU at
both ends. For reference the CPU table also times the library each front-end is checked against
(librosa for stft/mel/mfcc/rms, PyWavelets' ``cwt`` for the scalogram) on the same signals, one
signal at a time as those libraries work.

``python benchmarks/signal_frontends.py`` prints a table; ``--json`` prints one JSON object;
``--smoke`` runs a tiny configuration in seconds (CI checks the script with it). GPU numbers appear
whenever torch sees a CUDA device (not in CI).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

from medalist.signal.frontends import CWT, LFCC, MFCC, RMS, STFT, Mel, cwt_scales


def frontends(sr: float, n_fft: int, hop: int, n_scales: int) -> dict[str, torch.nn.Module]:
    return {
        "stft": STFT(n_fft, hop),
        "mel": Mel(sr, n_fft, hop, n_mels=64),
        "mfcc": MFCC(sr, n_fft, hop, n_mels=64, n_mfcc=20),
        "lfcc": LFCC(sr, n_fft, hop, n_filters=64, n_lfcc=20),
        "rms": RMS(n_fft, hop),
        "cwt": CWT(cwt_scales(n_scales, 1, 64), "morl"),
    }


def references(sr: float, n_fft: int, hop: int, n_scales: int) -> dict[str, Callable[[np.ndarray], Any]]:
    import librosa
    import pywt

    scales = cwt_scales(n_scales, 1, 64)
    return {
        "stft": lambda y: np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)),
        "mel": lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=64)),
        "mfcc": lambda y: librosa.feature.mfcc(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=64, n_mfcc=20),
        "rms": lambda y: librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop),
        "cwt": lambda y: np.abs(pywt.cwt(y, scales, "morl", method="conv")[0]),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_module(mod: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int) -> float:
    """Signals (batch × channels) per second."""
    mod = mod.to(x.device)
    with torch.no_grad():
        for _ in range(warmup):
            mod(x)
        _sync(x.device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            mod(x)
        _sync(x.device)
    return x.shape[0] * x.shape[1] * repeats / (time.perf_counter() - t0)


def time_reference(fn: Callable[[np.ndarray], Any], x: np.ndarray, repeats: int) -> float:
    flat = x.reshape(-1, x.shape[-1])
    fn(flat[0])
    t0 = time.perf_counter()
    for _ in range(repeats):
        for y in flat:
            fn(y)
    return flat.shape[0] * repeats / (time.perf_counter() - t0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, args.channels, args.length)
    mods = frontends(args.sr, args.n_fft, args.hop, args.n_scales)
    refs = references(args.sr, args.n_fft, args.hop, args.n_scales) if not args.no_reference else {}
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for name, mod in mods.items():
        row: dict[str, Any] = {"frontend": name, "out_shape": list(mod(x[:1, :1]).shape[2:])}
        for dev in devices:
            row[f"{dev.type}_signals_per_s"] = round(time_module(mod, x.to(dev), args.warmup, args.repeats), 1)
        if name in refs:
            row["reference_cpu_signals_per_s"] = round(time_reference(refs[name], x.numpy().astype(np.float64 if name == "cwt" else np.float32),
                                                                      max(1, args.repeats // 4)), 1)
        rows.append(row)
    return {
        "benchmark": "signal_frontends",
        "config": {k: getattr(args, k) for k in ("batch", "channels", "length", "sr", "n_fft", "hop", "n_scales", "warmup", "repeats")},
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "results": rows,
    }


def table(res: dict[str, Any]) -> str:
    cols = ["frontend", "out_shape", "cpu_signals_per_s"] + (["cuda_signals_per_s"] if res["gpu"] else []) + ["reference_cpu_signals_per_s"]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for r in res["results"]:
        lines.append(" | ".join(str(r.get(c, "-")) for c in cols))
    head = (f"signal front-ends: batch {res['config']['batch']} × {res['config']['channels']} ch × {res['config']['length']} samples, "
            f"torch {res['torch']}, {res['threads']} CPU thread(s)" + (f", GPU {res['gpu']}" if res["gpu"] else ", no GPU"))
    return head + "\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--length", type=int, default=10_000)
    ap.add_argument("--sr", type=float, default=200.0)
    ap.add_argument("--n-fft", dest="n_fft", type=int, default=256)
    ap.add_argument("--hop", type=int, default=64)
    ap.add_argument("--n-scales", dest="n_scales", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--no-reference", action="store_true", help="skip the librosa/PyWavelets timings")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.smoke:
        args.batch, args.channels, args.length, args.n_scales, args.warmup, args.repeats = 2, 1, 512, 4, 1, 2
        args.n_fft, args.hop = 64, 16
    res = run(args)
    print(json.dumps(res) if args.json else table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
