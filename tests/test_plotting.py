"""The book's plotting style: every helper draws on the Agg backend without a single warning.

pyproject.toml turns warnings into errors, so a helper that makes matplotlib complain (a layout clash, a log axis
over non-positive data, a colour bar on the wrong axes) fails here. Each figure is also rendered to PNG, since many
matplotlib warnings only appear at draw time.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

import diffmem.plotting as dplt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def render(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG"), "savefig did not produce a PNG"
    return data


def test_use_style_sets_the_book_rcparams():
    with matplotlib.rc_context():
        dplt.use_style()
        for key, value in dplt.STYLE.items():
            if key == "axes.prop_cycle":
                assert list(matplotlib.rcParams[key].by_key()["color"]) == list(dplt.COLORS)
            elif isinstance(value, tuple):
                assert tuple(matplotlib.rcParams[key]) == value
            else:
                assert matplotlib.rcParams[key] == value


def test_style_context_restores_rcparams():
    before = matplotlib.rcParams["font.size"]
    with dplt.style():
        assert matplotlib.rcParams["font.size"] == dplt.STYLE["font.size"]
    assert matplotlib.rcParams["font.size"] == before


@pytest.mark.parametrize(("ncols", "nrows"), [(1, 1), (2, 1), (3, 2)])
def test_figure_grid(ncols, nrows):
    fig, axes = dplt.figure(ncols, nrows)
    assert len(fig.axes) == ncols * nrows
    assert np.size(axes) == ncols * nrows
    render(fig)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_figure_rejects_bad_grids(bad):
    with pytest.raises(ValueError, match="ncols"):
        dplt.figure(bad)


def test_errorbars_mark_time_and_log_axis_draw_without_warnings():
    dplt.use_style()
    t = np.geomspace(5.0, 0.01, 12)
    value = 1.0 / (1.0 + t)
    fig, (ax_a, ax_b) = dplt.figure(2)
    dplt.errorbars(ax_a, t, value, 0.01 * np.ones_like(t), label="with bars")
    dplt.errorbars(ax_a, t, value**2, None, label="no bars", marker="s", line=False)
    dplt.errorbars(ax_b, t, value, 0.02, label="scalar error")
    dplt.mark_time(ax_a, 0.4, r"$t_c$")
    dplt.mark_time(ax_b, 1.0)
    dplt.log_time_axis(ax_a)
    dplt.log_time_axis(ax_b, r"$t / t_c$", ticks=[0.01, 0.1, 1, 5])
    ax_a.legend()
    dplt.panel_labels((ax_a, ax_b))
    render(fig)
    assert ax_a.get_xscale() == "log" and ax_b.get_xscale() == "log"
    assert [lab.get_text() for lab in ax_b.get_xticklabels()] == ["0.01", "0.1", "1", "5"]
    assert [txt.get_text() for txt in ax_b.texts] == ["(b)"]


def test_log_time_axis_on_y():
    fig, ax = dplt.figure()
    ax.plot([1, 2, 3], [0.1, 1.0, 10.0])
    dplt.log_time_axis(ax, "time", axis="y")
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "time"
    with pytest.raises(ValueError, match="axis"):
        dplt.log_time_axis(ax, axis="z")
    render(fig)


def test_errorbars_rejects_mismatched_shapes():
    fig, ax = dplt.figure()
    with pytest.raises(ValueError, match="same shape"):
        dplt.errorbars(ax, [1, 2, 3], [1, 2])


def test_time_colored_paths_draws_every_segment():
    rng = np.random.default_rng(0)
    K, n = 30, 4
    times = np.geomspace(5.0, 0.01, K)
    paths = np.cumsum(rng.standard_normal((K, n, 2)), axis=0)
    points = rng.standard_normal((3, 2))
    fig, axes = dplt.figure(2, sharex=True, sharey=True)
    lc = dplt.time_colored_paths(axes[0], paths, times)
    lc_lin = dplt.time_colored_paths(axes[1], paths, times, log=False, linewidth=0.5)
    dplt.training_points(axes[0], points)
    dplt.training_points(axes[1], np.hstack([points, points]), label=None)
    dplt.time_colorbar(fig, lc, axes)
    axes[0].legend()
    render(fig)
    assert isinstance(lc, LineCollection) and isinstance(lc_lin, LineCollection)
    assert len(lc.get_segments()) == (K - 1) * n
    colors = lc.get_array()
    assert colors.min() >= times.min() and colors.max() <= times.max()


def test_time_colored_paths_validates_its_inputs():
    fig, ax = dplt.figure()
    times = np.array([1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="shape"):
        dplt.time_colored_paths(ax, np.zeros((3, 2, 3)), times)
    with pytest.raises(ValueError, match="times"):
        dplt.time_colored_paths(ax, np.zeros((3, 2, 2)), times[:2])
    with pytest.raises(ValueError, match="two records"):
        dplt.time_colored_paths(ax, np.zeros((1, 2, 2)), times[:1])
    with pytest.raises(ValueError, match="> 0"):
        dplt.time_colored_paths(ax, np.zeros((3, 2, 2)), np.array([1.0, 0.5, 0.0]))


def test_training_points_validates_its_input():
    fig, ax = dplt.figure()
    with pytest.raises(ValueError, match="points"):
        dplt.training_points(ax, np.zeros(4))
