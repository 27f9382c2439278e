"""Parameter explorers for the chapters: a kernel-free slider on the static site, a live one in a kernel.

Each chapter's alpha_D explorer is one call::

    import diffmem.widgets as dwg

    def draw(ax, alpha_D):
        ...  # draw the figure for this value of alpha_D on ax

    dwg.explore(draw, np.geomspace(0.05, 1.0, 12))

The call returns an :class:`Explorer` whose notebook display is

1. a slider over precomputed frames (matplotlib's JavaScript HTML animation player, ``HTMLWriter``): it needs no
   kernel, so it works on the static pages of the book;
2. when a live kernel with ipywidgets is available, an ipywidgets slider over the same values whose output area
   redraws with the same `draw` function, with a note saying that it needs a running kernel and how to get one.

:func:`frames` renders every value to an RGBA array with the same function, so that tests can check that every
value, extreme ones included, draws. Every frame is checked as it is drawn, by the player, the live slider and
:func:`frames` alike: the figure must hold at least one artist with data, and the data of its lines, collections,
patches and images must be finite (a NaN hidden in one frame is how a bad extreme value usually shows up; draw gaps
by splitting a curve, not with NaN). A frame that fails raises a ValueError naming the parameter and its value.
Figures are created without pyplot (an Agg canvas), so nothing is shown twice and nothing needs closing.
Matplotlib and ipywidgets are imported here only: the package imports without them.

Presentation layer (DESIGN.md section 3); serves every chapter's alpha_D explorer.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import NamedTuple

import matplotlib as mpl
import numpy as np
from matplotlib.animation import HTMLWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import plotting

__all__ = ["Explorer", "explore", "frames", "jshtml", "live_available"]

#: Milliseconds between frames when the kernel-free slider plays.
FRAME_INTERVAL_MS = 500

_FRAME = re.compile(r'frames\[\d+\] = "data:image')
# The player's one <img> (matplotlib writes it without alt text) and its range input.
_PLAYER_IMG = re.compile(r'<img id="(_anim_img\w+)">')
_PLAYER_RANGE = re.compile(r'(<input id="_anim_slider\w+" type="range")')
# mathtext $...$ -> \(...\): ipywidgets labels are typeset by the page's MathJax, which reads \( \) only.
_INLINE_MATH = re.compile(r"\$(.+?)\$")


def _plain(label: str) -> str:
    """A mathtext label as plain text for alt attributes: ``$\\alpha_D$`` -> ``alpha_D``."""
    return re.sub(r"[$\\{}]", "", label)


def _check_values(values, name: str) -> np.ndarray:
    """`values` as a 1-D float64 array: non-empty, finite, distinct; else ValueError naming the parameter."""
    if isinstance(values, str | bytes):
        raise ValueError(f"{name} values must be a sequence of numbers, got {values!r}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} values must be a sequence of finite numbers, got {values!r}") from exc
    arr = np.atleast_1d(arr)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} values must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise ValueError(f"{name} values must all be finite, got {bad!r}")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{name} values must be distinct, got {arr.tolist()}")
    return arr


def _check_draw(draw) -> Callable:
    if not callable(draw):
        raise TypeError(f"draw must be a callable draw(ax_or_fig, value), got {draw!r}")
    return draw


def _format(value: float) -> str:
    return f"{value:.3g}"


def _title(label: str, value: float) -> str:
    return f"{label} = {_format(value)}"


def _new_figure(figsize) -> Figure:
    """A figure on an Agg canvas, outside pyplot (so it is displayed only where we display it)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _all_axes(fig: Figure) -> list:
    """Every axes of `fig`, inset (child) axes included."""
    out = []
    todo = list(fig.get_axes())
    while todo:
        ax = todo.pop(0)
        if ax in out:
            continue
        out.append(ax)
        todo.extend(getattr(ax, "child_axes", []))
    return out


def _n_nonfinite(data) -> int:
    """How many entries of `data` are NaN or infinite (masked entries included: a mask can hide a NaN).

    Non-numeric data (categories, dates as strings) has no such entries.
    """
    if data is None:
        return 0
    try:
        arr = np.asarray(np.ma.getdata(data), dtype=np.float64)
    except (TypeError, ValueError):
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def _describe(artist, ax, axes: list) -> str:
    kind = type(artist).__name__
    label = artist.get_label()
    what = f"{kind} {label!r}" if label and not label.startswith("_") else kind
    title = ax.get_title()
    where = f"panel {axes.index(ax) + 1} of {len(axes)}" + (f" ({title!r})" if title else "")
    return f"{what} in {where}"


def _frame_problems(fig: Figure) -> list[str]:
    """What is wrong with a drawn frame: no artist with data, or non-finite data (empty when all is well)."""
    axes = _all_axes(fig)
    problems = []
    n_with_data = 0
    for ax in axes:
        for line in ax.lines:
            x, y = line.get_xdata(orig=True), line.get_ydata(orig=True)
            n_with_data += np.size(x) > 0 and np.size(y) > 0
            bad = _n_nonfinite(x) + _n_nonfinite(y)
            if bad:
                problems.append(f"{_describe(line, ax, axes)} has {bad} non-finite coordinates (NaN or inf)")
        for coll in ax.collections:
            paths = coll.get_paths()
            offsets = coll.get_offsets()
            n_with_data += len(offsets) > 0 and any(len(p.vertices) for p in paths)
            bad = sum(_n_nonfinite(p.vertices) for p in paths) + _n_nonfinite(offsets)
            bad_values = _n_nonfinite(coll.get_array())
            if bad:
                problems.append(f"{_describe(coll, ax, axes)} has {bad} non-finite coordinates (NaN or inf)")
            if bad_values:
                problems.append(f"{_describe(coll, ax, axes)} has {bad_values} non-finite colour values (NaN or inf)")
        for patch in ax.patches:
            n_with_data += 1
            bad = _n_nonfinite(patch.get_patch_transform().transform(patch.get_path().vertices))
            if bad:
                problems.append(f"{_describe(patch, ax, axes)} has {bad} non-finite coordinates (NaN or inf)")
        for image in ax.images:
            arr = image.get_array()
            n_with_data += arr is not None and np.size(arr) > 0
            bad = _n_nonfinite(arr) + _n_nonfinite(image.get_extent())
            if bad:
                problems.append(f"{_describe(image, ax, axes)} has {bad} non-finite values (NaN or inf)")
    if n_with_data == 0:
        problems.insert(0, f"no line, collection, patch or image with data on its {len(axes)} axes")
    return problems


def _check_frame(fig: Figure, name: str, value: float) -> None:
    """Raise ValueError naming the parameter and its value if the frame drawn on `fig` is not a valid figure."""
    problems = _frame_problems(fig)
    if problems:
        raise ValueError(f"the frame for {name} = {value!r} is not a valid figure: " + "; ".join(problems))


def _draw_frame(fig: Figure, draw, value: float, label: str, pass_figure: bool, name: str) -> None:
    """Clear `fig`, draw the frame of `value` on it with the value as the figure's title, and check it.

    Raises
    ------
    ValueError
        If the frame has no artist with data, or non-finite data (see :func:`_frame_problems`).
    """
    fig.clear()
    target = fig if pass_figure else fig.add_subplot()
    draw(target, float(value))
    _check_frame(fig, name, float(value))
    fig.suptitle(_title(label, value))


def frames(draw, values, *, name: str = "alpha_D", label: str = r"$\alpha_D$", figsize=None,
           pass_figure: bool = False) -> list[np.ndarray]:
    """Render the figure of every value to an RGBA array, with the function behind both sliders.

    Parameters
    ----------
    draw : callable
        ``draw(ax, v)`` (or ``draw(fig, v)`` with ``pass_figure=True``) draws the figure for the value ``v``.
    values : (K,) array_like
        Parameter values: non-empty, finite, distinct.
    name : str
        Name of the parameter, used in error messages.
    label : str
        How the parameter is written in the title of each frame (mathtext allowed).
    figsize : (float, float), optional
        Figure size in inches; the book's default otherwise.
    pass_figure : bool
        Pass the (cleared) figure to `draw` instead of a single axes, for figures with several panels.

    Returns
    -------
    list of (H, W, 4) uint8 ndarray
        One RGBA image per value, in the order of `values`.

    Raises
    ------
    ValueError
        If `values` is empty, not 1-D, holds a non-finite number or repeats a value (the message names `name`), or
        if the frame of a value is not a valid figure: no line, collection, patch or image with data, or NaN or
        infinite data in one of them (the message names `name`, the value and the artist).
    TypeError
        If `draw` is not callable.
    """
    draw = _check_draw(draw)
    vals = _check_values(values, name)
    images = []
    with plotting.style():
        fig = _new_figure(figsize)
        for v in vals:
            _draw_frame(fig, draw, v, label, pass_figure, name)
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
    return images


def _default_alt(name: str, label: str, n: int) -> str:
    return (f"The figure drawn for each of {n} values of {_plain(label)}, one frame per value; "
            "move the slider or press play to change it.")


def jshtml(draw, values, *, name: str = "alpha_D", label: str = r"$\alpha_D$", figsize=None,
           pass_figure: bool = False, interval: int = FRAME_INTERVAL_MS, alt: str | None = None) -> str:
    """The kernel-free slider: an HTML/JavaScript player over one precomputed frame per value.

    The frames are PNG images embedded in the page, so their total size is bounded by
    ``matplotlib.rcParams["animation.embed_limit"]`` (in MB, 20 by default). Rather than let matplotlib drop the
    frames beyond it silently, the size is estimated from the first frame and a ValueError raised when it would not
    fit: pass fewer values, a smaller figure, or raise the limit.

    Parameters
    ----------
    draw, values, name, label, figsize, pass_figure
        As in :func:`frames`.
    interval : int
        Milliseconds between frames when playing.
    alt : str, optional
        Alt text of the player's image (what the frames show); a generic description naming the parameter otherwise.

    Returns
    -------
    str
        The HTML of the player (as ``FuncAnimation.to_jshtml(default_mode="once")`` writes it), one frame per value,
        each titled with its value.

    Raises
    ------
    ValueError
        Bad `values` or an invalid frame (see :func:`frames`), or frames that would exceed the embed limit.
    """
    draw = _check_draw(draw)
    vals = _check_values(values, name)
    limit_mb = float(mpl.rcParams["animation.embed_limit"])
    with plotting.style():
        fig = _new_figure(figsize)
        # Estimate the page weight from the first frame (base64 inflates PNG bytes by 4/3).
        _draw_frame(fig, draw, vals[0], label, pass_figure, name)
        from io import BytesIO  # noqa: PLC0415 - only needed here

        dpi = mpl.rcParams["savefig.dpi"]  # what FuncAnimation.to_jshtml would use (the book's style sets it)
        dpi = fig.dpi if dpi == "figure" else float(dpi)
        buf = BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        estimate_mb = 1.5 * len(buf.getvalue()) * len(vals) * 4 / 3 / 2**20
        if estimate_mb > limit_mb:
            raise ValueError(
                f"{len(vals)} frames of {name} need about {estimate_mb:.1f} MB, more than "
                f'rcParams["animation.embed_limit"] = {limit_mb} MB: pass fewer values or a smaller figure, or raise '
                "the limit"
            )

        # The writer behind FuncAnimation.to_jshtml, fed directly: one draw per frame (savefig) instead of the
        # animation's extra canvas draws, which matter when a chapter renders a dozen multi-panel frames.
        with TemporaryDirectory() as tmp:
            path = Path(tmp, "player.html")
            writer = HTMLWriter(fps=1000.0 / interval, embed_frames=True, default_mode="once")
            writer.setup(fig, path, dpi=dpi)
            writer.grab_frame()  # the first frame is already drawn
            for v in vals[1:]:
                _draw_frame(fig, draw, v, label, pass_figure, name)
                writer.grab_frame()
            writer.finish()
            html = path.read_text(encoding="utf-8")
    # Accessible names: the frames carry the figure, the slider the value (pages are checked for alt text).
    html = _PLAYER_IMG.sub(
        lambda m: f'<img id="{m.group(1)}" alt="{escape(alt or _default_alt(name, label, len(vals)))}">', html,
        count=1)
    html = _PLAYER_RANGE.sub(lambda m: f'{m.group(1)} aria-label="{escape(_plain(label))}"', html, count=1)
    n_frames = len(_FRAME.findall(html))
    if n_frames != len(vals):  # matplotlib drops frames beyond the embed limit: never publish a short slider
        raise ValueError(f"the player holds {n_frames} frames for {len(vals)} values of {name}; raise "
                         'rcParams["animation.embed_limit"]')
    return html


def live_available() -> bool:
    """True in a running IPython kernel with ipywidgets importable (a live slider can work there).

    Returns
    -------
    bool
    """
    try:
        import ipywidgets  # noqa: F401, PLC0415
        from IPython import get_ipython  # noqa: PLC0415
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


_LIVE_NOTE = (
    "<div class='diffmem-live-note' style='font-size:90%; margin-left:1em; max-width:26em'>"
    "<b>This live slider needs a running kernel.</b> To get one, open this page in Binder or Colab with the rocket "
    "button at the top of the page, or run the notebook in a local Jupyter. On this static page it does nothing; "
    "the player above works without a kernel.</div>"
)


def _live_widget(draw, vals: np.ndarray, start: float, *, name: str, label: str, figsize, pass_figure: bool):
    """An ipywidgets SelectionSlider over `vals` with an output area redrawn by `draw`, and a note."""
    import ipywidgets as widgets  # noqa: PLC0415
    from IPython.display import clear_output, display  # noqa: PLC0415

    slider = widgets.SelectionSlider(
        options=[(_format(v), float(v)) for v in vals], value=float(start),
        description=_INLINE_MATH.sub(r"\\(\1\\)", label),
        continuous_update=False, layout=widgets.Layout(width="24em"),
    )
    out = widgets.Output()

    def redraw(change=None):
        with plotting.style():
            fig = _new_figure(figsize)
            _draw_frame(fig, draw, slider.value, label, pass_figure, name)
        with out:
            clear_output(wait=True)
            display(fig)

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([slider, widgets.HTML(_LIVE_NOTE)]), out])


class Explorer(NamedTuple):
    """What :func:`explore` returns; displaying it in a notebook shows the sliders.

    Attributes
    ----------
    html : str
        The kernel-free player (see :func:`jshtml`).
    widget : ipywidgets.Widget or None
        The live slider and its output area, ``None`` when no live kernel was used.
    values : (K,) ndarray
        The parameter values, one frame each.
    """

    html: str
    widget: object
    values: np.ndarray

    def _ipython_display_(self):
        from IPython.display import HTML, display  # noqa: PLC0415

        display(HTML(self.html))
        if self.widget is not None:
            display(self.widget)


def explore(draw, values: Sequence[float], *, name: str = "alpha_D", value=None, label: str = r"$\alpha_D$",
            figsize=None, live=None, pass_figure: bool = False, alt: str | None = None) -> Explorer:
    """A parameter explorer: a kernel-free slider over precomputed frames, plus a live slider in a kernel.

    Parameters
    ----------
    draw : callable
        ``draw(ax, v)`` draws the figure for the parameter value ``v`` on a fresh axes (``draw(fig, v)`` on the
        cleared figure with ``pass_figure=True``). The value is written in each frame's title by the explorer.
    values : (K,) array_like
        Parameter values: non-empty, finite, distinct (e.g. ``np.geomspace(0.05, 1, 12)`` for alpha_D).
    name : str
        Name of the parameter, used in error messages.
    value : float, optional
        Starting value of the live slider (the nearest of `values`); the middle value by default.
    label : str
        How the parameter is written (titles and slider description; mathtext allowed).
    figsize : (float, float), optional
        Figure size in inches.
    live : bool or None
        Add the live ipywidgets slider: ``None`` when a live kernel with ipywidgets is available
        (:func:`live_available`), ``True`` always (ipywidgets needed), ``False`` never.
    pass_figure : bool
        See :func:`frames`.
    alt : str, optional
        Alt text of the player (see :func:`jshtml`).

    Returns
    -------
    Explorer
        Displays as the kernel-free player followed by the live slider (if any): make it the last expression of a
        cell, or pass it to ``IPython.display.display``.

    Raises
    ------
    ValueError
        Bad `values` or `value` (the message names `name`), an invalid frame (see :func:`frames`), or frames beyond
        the embed limit.
    TypeError
        If `draw` is not callable.

    Examples
    --------
    >>> import numpy as np
    >>> ex = explore(lambda ax, v: ax.plot([0, 1], [0, v]), [0.5, 1.0], live=False)
    >>> ex.html.count('data:image/png')
    2
    """
    draw = _check_draw(draw)
    vals = _check_values(values, name)
    if value is None:
        start = float(vals[len(vals) // 2])
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"value (starting {name}) must be a finite number, got {value!r}")
        start = float(vals[np.argmin(np.abs(vals - value))])
    html = jshtml(draw, vals, name=name, label=label, figsize=figsize, pass_figure=pass_figure, alt=alt)
    use_live = live_available() if live is None else bool(live)
    widget = _live_widget(draw, vals, start, name=name, label=label, figsize=figsize,
                          pass_figure=pass_figure) if use_live else None
    return Explorer(html=html, widget=widget, values=vals)
