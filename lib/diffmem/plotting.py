"""One matplotlib style for the whole book, and the few plot types the chapters share.

Presentation layer: every function takes NumPy arrays (convert CuPy results with :func:`diffmem.backend.to_numpy`
first) and draws on matplotlib axes; nothing here knows about models, scores or samplers, and no model code imports
this module. Matplotlib is an optional dependency (``pip install -e .[plot]``), imported when this module is.

Typical use in a chapter::

    import diffmem as dm
    import diffmem.plotting as dplt

    dplt.use_style()
    fig, ax = dplt.figure()
    dplt.errorbars(ax, t, est.value, est.stderr, label="direct samples")
    dplt.mark_time(ax, t_c, r"$t_c$")
    dplt.log_time_axis(ax)

Serves every chapter (DESIGN.md section 3, "Presentation").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from ._checks import count

__all__ = [
    "COLORS",
    "STYLE",
    "TIME_CMAP",
    "errorbars",
    "figure",
    "log_time_axis",
    "mark_time",
    "panel_labels",
    "style",
    "time_colorbar",
    "time_colored_paths",
    "training_points",
    "use_style",
]

#: A colour-blind safe qualitative palette (Okabe & Ito), used as the default property cycle.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

#: Sequential colour map for forward time (dark = small t, i.e. late in the reverse process).
TIME_CMAP = "viridis"

#: The rcParams of the book.
STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "errorbar.capsize": 2.5,
    "image.cmap": TIME_CMAP,
    "axes.prop_cycle": mpl.cycler(color=list(COLORS)),
    "mathtext.fontset": "dejavusans",
}


def style():
    """A context manager that applies :data:`STYLE` inside a ``with`` block only.

    Returns
    -------
    contextlib.AbstractContextManager
    """
    return mpl.rc_context(STYLE)


def use_style() -> None:
    """Apply :data:`STYLE` globally (each chapter calls it once, after its imports)."""
    mpl.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None, **kwargs):
    """A figure with a grid of axes in the book's style and proportions.

    Parameters
    ----------
    ncols, nrows : int
        Grid of panels.
    width, height : float, optional
        Size in inches; by default 6.4 wide for one column, 3.4 per column beyond (capped at 10), and 4.0 per row
        (3.4 per row when there are several columns).
    **kwargs
        Passed to :func:`matplotlib.pyplot.subplots` (e.g. ``sharey=True``).

    Returns
    -------
    fig : Figure
    axes : Axes or ndarray of Axes
        As :func:`matplotlib.pyplot.subplots` returns them (a single Axes for a 1 x 1 grid).

    Raises
    ------
    ValueError
        If `ncols` or `nrows` is not a positive integer.
    """
    ncols, nrows = count(ncols, "ncols"), count(nrows, "nrows")
    if width is None:
        width = 6.4 if ncols == 1 else min(10.0, 3.4 * ncols + 0.6)
    if height is None:
        height = (4.0 if ncols == 1 else 3.4) * nrows
    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)
    return fig, axes


def errorbars(ax, x, value, stderr=None, *, label=None, color=None, marker="o", line=True, **kwargs):
    """Plot a Monte Carlo estimate with one-standard-error bars.

    Parameters
    ----------
    ax : Axes
    x, value : (K,) array_like
    stderr : (K,) array_like, optional
        Standard errors (e.g. ``Estimate.stderr``); no bars when omitted.
    label, color, marker : optional
    line : bool
        Join the points with a line.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.errorbar`.

    Returns
    -------
    ErrorbarContainer
    """
    x = np.asarray(x, dtype=float)
    value = np.asarray(value, dtype=float)
    yerr = None if stderr is None else np.broadcast_to(np.asarray(stderr, dtype=float), value.shape)
    if x.shape != value.shape:
        raise ValueError(f"x and value must have the same shape, got {x.shape} and {value.shape}")
    return ax.errorbar(x, value, yerr=yerr, label=label, color=color, marker=marker,
                       linestyle="-" if line else "none", **kwargs)


def mark_time(ax, t: float, label: str | None = None, *, color="0.35", linestyle="--", y: float = 0.97):
    """A vertical line at time `t`, with an optional label written at the top of the axes.

    Parameters
    ----------
    ax : Axes
    t : float
    label : str, optional
        E.g. ``r"$t_c$"``.
    color, linestyle : optional
    y : float
        Height of the label in axes coordinates.

    Returns
    -------
    Line2D
    """
    line = ax.axvline(float(t), color=color, linestyle=linestyle, linewidth=1.0, zorder=0)
    if label:
        ax.text(float(t), y, f" {label}", transform=ax.get_xaxis_transform(), color=color, ha="left", va="top")
    return line


def log_time_axis(ax, label: str = r"forward time $t$", *, axis: str = "x", ticks=None) -> None:
    """Log scale and label for a time axis.

    Parameters
    ----------
    ax : Axes
    label : str
    axis : {"x", "y"}
    ticks : (k,) array_like, optional
        Major ticks written as plain numbers (e.g. ``[0.2, 0.5, 1, 2, 5]`` for a ratio axis); minor tick labels
        are then removed, so that a short log axis does not fill with labels.
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target.set_label_text(label)
    if ticks is not None:
        ticks = np.asarray(ticks, dtype=float)
        target.set_major_locator(FixedLocator(ticks))
        target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        target.set_minor_formatter(NullFormatter())


def time_colored_paths(ax, paths, times, *, cmap=TIME_CMAP, log: bool = True, linewidth: float = 1.0,
                       alpha: float = 0.9, norm=None):
    """Draw trajectories in the plane, each segment coloured by its forward time.

    Parameters
    ----------
    ax : Axes
    paths : (K, n, 2) array_like
        ``paths[k, i]`` is trajectory ``i`` at ``times[k]`` (the layout of ``diffmem.sample_reverse``).
    times : (K,) array_like
        Positive forward times of the records.
    cmap : str or Colormap
    log : bool
        Colour by ``log t`` (default) rather than ``t``.
    linewidth, alpha : float
    norm : Normalize, optional
        Overrides `log`.

    Returns
    -------
    LineCollection
        The mappable, for :func:`time_colorbar`.

    Raises
    ------
    ValueError
        For shapes that do not match or non-positive times with ``log=True``.
    """
    paths = np.asarray(paths, dtype=float)
    times = np.asarray(times, dtype=float)
    if paths.ndim != 3 or paths.shape[2] != 2:
        raise ValueError(f"paths must have shape (K, n, 2), got {paths.shape}")
    if times.shape != (paths.shape[0],):
        raise ValueError(f"times must have shape ({paths.shape[0]},), got {times.shape}")
    if paths.shape[0] < 2:
        raise ValueError("paths need at least two records to draw segments")
    if norm is None:
        if log:
            if np.any(times <= 0):
                raise ValueError("times must be > 0 for a logarithmic colour scale")
            norm = LogNorm(vmin=times.min(), vmax=times.max())
        else:
            norm = Normalize(vmin=times.min(), vmax=times.max())
    # segments (K - 1) per trajectory, coloured by the time at their later end (smaller t)
    starts = paths[:-1].transpose(1, 0, 2)
    ends = paths[1:].transpose(1, 0, 2)
    segments = np.stack([starts, ends], axis=2).reshape(-1, 2, 2)
    seg_times = np.sqrt(times[:-1] * times[1:]) if log else 0.5 * (times[:-1] + times[1:])
    colors = np.tile(seg_times, paths.shape[1])
    lc = LineCollection(segments, cmap=cmap, norm=norm, linewidths=linewidth, alpha=alpha, capstyle="round")
    lc.set_array(colors)
    ax.add_collection(lc)
    ax.autoscale_view()
    return lc


def time_colorbar(fig, mappable, ax, label: str = r"forward time $t$"):
    """A colour bar for :func:`time_colored_paths`."""
    cbar = fig.colorbar(mappable, ax=ax)
    cbar.set_label(label)
    return cbar


def training_points(ax, points, *, label: str | None = "training points", color="black", size: float = 120,
                    **kwargs):
    """Mark training points (first two coordinates) as stars on top of everything else.

    Parameters
    ----------
    ax : Axes
    points : (P, >=2) array_like
    label, color, size : optional
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.scatter`.

    Returns
    -------
    PathCollection
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"points must have shape (P, 2) or more columns, got {points.shape}")
    return ax.scatter(points[:, 0], points[:, 1], marker="*", s=size, color=color, edgecolor="white",
                      linewidth=0.8, zorder=5, label=label, **kwargs)


def panel_labels(axes: Iterable | Sequence, *, start: str = "a", x: float = -0.02, y: float = 1.02) -> None:
    """Write (a), (b), ... at the top left of each panel."""
    for k, ax in enumerate(np.ravel(np.asarray(axes, dtype=object))):
        ax.text(x, y, f"({chr(ord(start) + k)})", transform=ax.transAxes, ha="right", va="bottom",
                fontweight="bold")
