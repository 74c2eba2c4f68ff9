"""Post-processing: assignment, box fusion, temporal smoothing, thresholds, mask gating."""

from medalist.postprocess.ops import *  # noqa: F401,F403  (the public functions live at the package root)
from medalist.postprocess.ops import __all__  # noqa: F401
