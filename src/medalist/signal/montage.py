"""EEG bipolar montages as a signal front-end: channel differences of named 10-20 electrodes.

The ``banana`` front-end is the longitudinal bipolar ("double banana") montage of the HMS harmful
brain activity competition: 18 differences of neighbouring electrodes along four chains and the
midline, computed on the batch's device from the 19 referential channels::

    LL: Fp1-F7, F7-T3, T3-T5, T5-O1      LP: Fp1-F3, F3-C3, C3-P3, P3-O1
    RP: Fp2-F4, F4-C4, C4-P4, P4-O2      RL: Fp2-F8, F8-T4, T4-T6, T6-O2
    central: Fz-Cz, Cz-Pz

The branch names the electrode of each input channel, in the order of ``signals.columns``
(``electrodes: [Fp1, F3, C3, ...]``); the modern names T7/T8/P7/P8 stand for T3/T4/T5/T6 and case
does not matter. Other channels (EKG) may be present and are ignored.

>>> import torch
>>> m = BipolarMontage(["Fz", "Cz", "Pz"], pairs=[("Fz", "Cz"), ("Cz", "Pz")])
>>> m(torch.tensor([[[5.0], [2.0], [1.0]]])).flatten().tolist()
[3.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medalist.core.errors import ConfigError

__all__ = ["BANANA", "BipolarMontage", "build_banana", "canonical_electrode"]

BANANA: list[tuple[str, str]] = [
    ("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),  # left lateral (LL)
    ("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),  # left parasagittal (LP)
    ("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),  # right parasagittal (RP)
    ("Fp2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"),  # right lateral (RL)
    ("Fz", "Cz"), ("Cz", "Pz"),  # central
]

# 10-10 names of the same positions (T7 = T3, ...): either spelling is accepted.
_ALIASES = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}


def canonical_electrode(name: str) -> str:
    """The 10-20 spelling of an electrode name: case-insensitive, 10-10 names mapped to 10-20.

    >>> canonical_electrode("FP1"), canonical_electrode("t7"), canonical_electrode("cz")
    ('Fp1', 'T3', 'Cz')
    """
    n = name.strip().upper()
    n = _ALIASES.get(n, n)
    if n.endswith("Z"):
        n = n[:-1] + "z"
    return "Fp" + n[2:] if n.startswith("FP") else n


class BipolarMontage(nn.Module):
    """(B, C, T) referential channels → (B, len(pairs), T) differences ``a − b`` per pair, in pair order."""

    def __init__(self, electrodes: list[str], pairs: list[tuple[str, str]] = BANANA,
                 where: str = "branch electrodes") -> None:
        super().__init__()
        index: dict[str, int] = {}
        for i, e in enumerate(electrodes):
            index.setdefault(canonical_electrode(e), i)
        missing = sorted({canonical_electrode(x) for pair in pairs for x in pair} - set(index))
        if missing:
            raise ConfigError(where, expected="a name for every input channel, including each electrode of the montage",
                              found=f"no channel named {', '.join(missing)} among {list(electrodes)}",
                              fix="list the 10-20 name of each channel in signals.columns order (e.g. [Fp1, F3, C3, ...])")
        self.pairs = [(canonical_electrode(a), canonical_electrode(b)) for a, b in pairs]
        self.n_in = len(electrodes)
        self.register_buffer("a", torch.tensor([index[a] for a, _ in self.pairs]), persistent=False)
        self.register_buffer("b", torch.tensor([index[b] for _, b in self.pairs]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.n_in:
            raise ConfigError("branch electrodes", expected=f"{self.n_in} input channels (one per electrode name)",
                              found=f"{x.shape[1]} channels", fix="give one electrode name per signals column")
        return x.index_select(1, self.a) - x.index_select(1, self.b)


def build_banana(b: Any, sr: float) -> nn.Module:
    """The double-banana montage of branch ``b`` (its ``electrodes`` name the input channels)."""
    if not b.electrodes:
        raise ConfigError(f"branch '{b.name}': electrodes", expected="the 10-20 name of each input channel (input: banana)",
                          found="none", fix="electrodes: [Fp1, F3, C3, P3, F7, T3, T5, O1, Fz, Cz, Pz, Fp2, F4, C4, P4, F8, T4, T6, O2]")
    return BipolarMontage(b.electrodes, BANANA, where=f"branch '{b.name}': electrodes")
