"""Signal models: waveform front-ends (STFT, CWT, mel, MFCC, LFCC, RMS), multi-branch networks with
per-branch losses, annotator-vote soft labels with a curriculum, and a learned resizer.

``model: signal`` (see :mod:`medalist.signal.model`); torch is imported only by the submodules.
"""
