"""diffmem.widgets: the kernel-free player, the live slider, and the function behind both."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import diffmem as dm  # noqa: E402
import diffmem.widgets as dwg  # noqa: E402

FRAME = re.compile(r'frames\[\d+\] = "data:image/png;base64,')


def draw_line(ax, v):
    x = np.linspace(0.0, 1.0, 50)
    ax.plot(x, v * x**2)
    ax.set_xlabel("x")


def draw_entropy(ax, alpha_D):
    """A chapter-like figure: the s = 0 saddle entropy of a linear hidden manifold."""
    model = dm.HiddenManifold(alpha_D)
    theta = np.geomspace(1e-3, 1e3, 200)
    t_cond = dm.condensation_time(0.3, model)
    ax.semilogx(theta, 0.3 + 0 * theta)
    ax.axvline(0.5 / np.expm1(2 * t_cond))
    ax.set_ylim(-1, 1)


def test_explore_returns_one_frame_per_value():
    values = np.geomspace(0.05, 1.0, 5)
    ex = dwg.explore(draw_line, values, live=False)
    assert isinstance(ex, dwg.Explorer)
    assert len(FRAME.findall(ex.html)) == len(values)
    assert ex.widget is None
    np.testing.assert_array_equal(ex.values, values)
    # played once, not looped
    assert 'checked' in ex.html and "once" in ex.html


def test_explore_displays_without_warnings(capsys):
    from IPython.display import display

    ex = dwg.explore(draw_line, [0.1, 0.2], live=False)
    display(ex)  # outside a kernel: falls back to printing, must not warn


def test_live_widget_is_built_on_request():
    pytest.importorskip("ipywidgets")
    ex = dwg.explore(draw_line, [0.1, 0.5, 1.0], value=0.45, live=True)
    assert ex.widget is not None
    slider = ex.widget.children[0].children[0]
    assert slider.value == 0.5
    slider.value = 1.0  # redraws through the same function without error
    note = ex.widget.children[0].children[1].value
    assert "needs a running kernel" in note and "Binder or Colab" in note and "player above" in note
    assert slider.description == r"\(\alpha_D\)"  # typeset by the page's MathJax, which reads \( \) only


def test_live_is_off_outside_a_kernel():
    assert dwg.live_available() is False
    assert dwg.explore(draw_line, [1.0], live=None).widget is None


@pytest.mark.parametrize("alpha_D", [1e-3, 0.05, 1.0])
def test_extreme_values_draw_a_valid_figure(alpha_D):
    (img,) = dwg.frames(draw_entropy, [alpha_D])
    assert img.ndim == 3 and img.shape[2] == 4 and img.dtype == np.uint8
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert np.unique(img.reshape(-1, 4), axis=0).shape[0] > 2  # something was drawn


def test_frames_differ_between_values_and_carry_the_title():
    a, b = dwg.frames(draw_line, [0.2, 1.0])
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_pass_figure_hands_over_the_figure():
    seen = []

    def draw(fig, v):
        seen.append(type(fig).__name__)
        axes = fig.subplots(1, 2)
        axes[0].plot([0, v])
        axes[1].plot([v, 0])

    dwg.frames(draw, [0.5, 1.0], pass_figure=True)
    assert seen == ["Figure", "Figure"]


@pytest.mark.parametrize("values", [[], [0.1, np.nan], [0.1, np.inf], np.ones((2, 2)), "abc", [0.2, 0.2],
                                    [[]]])
def test_bad_values_raise_naming_the_parameter(values):
    with pytest.raises(ValueError, match="alpha_D"):
        dwg.explore(draw_line, values, live=False)
    with pytest.raises(ValueError, match="alpha_D"):
        dwg.frames(draw_line, values)


def test_bad_values_name_another_parameter():
    with pytest.raises(ValueError, match="beta"):
        dwg.frames(draw_line, [], name="beta")


def test_bad_start_value_and_draw():
    with pytest.raises(ValueError, match="alpha_D"):
        dwg.explore(draw_line, [0.1, 0.2], value=float("nan"), live=False)
    with pytest.raises(TypeError, match="draw"):
        dwg.frames("not callable", [0.1])


def test_embed_limit_is_respected():
    with matplotlib.rc_context({"animation.embed_limit": 1e-4}), pytest.raises(ValueError, match="embed_limit"):
        dwg.jshtml(draw_line, [0.1, 0.2, 0.3])


def test_player_has_alt_text_and_an_accessible_slider():
    html = dwg.jshtml(draw_line, [0.1, 1.0])
    img = re.search(r"<img [^>]*>", html).group(0)
    assert 'alt="The figure drawn for each of 2 values of alpha_D' in img
    assert re.search(r'type="range" aria-label="alpha_D"', html)
    own = dwg.explore(draw_line, [0.1, 1.0], live=False, alt='a "quoted" <figure>').html
    assert 'alt="a &quot;quoted&quot; &lt;figure&gt;"' in own
