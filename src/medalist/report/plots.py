"""Matplotlib for the report: a headless pyplot and figures inlined as SVG with page-unique ids."""

from __future__ import annotations

import io
import re
from functools import lru_cache

from medalist.report.render import Markup, parts

__all__ = ["pyplot", "Figs", "thin", "RASTER_DPI"]

RASTER_DPI = 110  # resolution of the rasterised parts (dense scatter / hexbin) inside the vector SVGs


@lru_cache(maxsize=1)
def pyplot():
    """``matplotlib.pyplot`` on the Agg backend with the report's style (a clear error without matplotlib);
    set up once per process (switching the backend on every figure cost ~35 ms each)."""
    from medalist.core.optional import require

    matplotlib = require("matplotlib", extra="plot", purpose="the report's plots")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def thin(x, y, max_points: int = 800):
    """At most about ``max_points`` vertices of the polyline (x, y), first and last kept: an SVG path
    costs bytes per vertex while a plot a few hundred pixels wide shows no more than that.

    >>> import numpy as np
    >>> xs, ys = thin(np.arange(10_000), np.arange(10_000), max_points=100)
    >>> len(xs), int(xs[0]), int(xs[-1])
    (100, 0, 9999)
    """
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if len(x) <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[idx], y[idx]


class Figs:
    """Turns figures into ``<figure>`` elements and counts them (the report's ``plots``)."""

    def __init__(self) -> None:
        self.n = 0

    def svg(self, fig, name: str, caption: str = "") -> Markup:
        plt = pyplot()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", dpi=RASTER_DPI)
        plt.close(fig)
        text = buf.getvalue()
        text = text[text.index("<svg"):]
        # ids inside inline SVGs share the page's namespace: make them unique per figure
        self.n += 1
        prefix = f"p{self.n}-"
        text = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}{m[1]}"', text)
        text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}{m[1]})", text)
        text = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{prefix}{m[1]}"', text)
        text = re.sub(r'(?<!:)href="#([^"]+)"', lambda m: f'href="#{prefix}{m[1]}"', text)
        # matplotlib's own SVG output: trusted markup, inlined as is
        return parts().figure(name, Markup(text), caption)
