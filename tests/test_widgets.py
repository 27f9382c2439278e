"""diffmem.widgets: the kernel-free player, the live slider, and the function behind both."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

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


# --- every frame is checked as it is drawn: an artist with data, and finite data only -------------------------------

def draw_nan_at_small(ax, alpha_D):
    """A curve that turns NaN at the small extreme, as a bad closed form would (no warning: NaN is built directly)."""
    x = np.linspace(0.0, 1.0, 20)
    y = np.where(x > 0.5, np.nan, x) if alpha_D < 0.1 else x
    ax.plot(x, y, label="theory")


def test_a_nan_at_one_extreme_raises_naming_the_parameter_and_value():
    values = np.geomspace(0.05, 1.0, 4)
    message = r"alpha_D = 0\.05 is not a valid figure: Line2D 'theory' in panel 1 of 1 has 10 non-finite"
    with pytest.raises(ValueError, match=message):
        dwg.explore(draw_nan_at_small, values, live=False)
    with pytest.raises(ValueError, match=message):
        dwg.frames(draw_nan_at_small, values)
    with pytest.raises(ValueError, match=message):
        dwg.jshtml(draw_nan_at_small, values[::-1])  # the bad value last: checked before the page is written
    with pytest.raises(ValueError, match=r"beta = 0\.05"):
        dwg.frames(draw_nan_at_small, values, name="beta")
    dwg.frames(draw_nan_at_small, values[1:])  # the other values draw


def test_the_live_slider_checks_its_frames_too():
    pytest.importorskip("ipywidgets")
    values = [0.05, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"alpha_D = 0\.05"):
        dwg.explore(draw_nan_at_small, values, live=True, value=0.05)  # the player fails first
    with pytest.raises(ValueError, match=r"alpha_D = 0\.05"):
        dwg._live_widget(draw_nan_at_small, np.array(values), 0.05, name="alpha_D", label="a", figsize=(2, 1.5),
                         pass_figure=False)


def test_a_frame_without_data_raises():
    def draw_text(ax, v):
        ax.text(0.5, 0.5, f"{v}")
        ax.set_title("empty")

    with pytest.raises(ValueError, match=r"alpha_D = 0\.3 is not a valid figure: no line, collection, patch or image"):
        dwg.frames(draw_text, [0.3])
    with pytest.raises(ValueError, match="no line"):
        dwg.frames(lambda ax, v: ax.plot([], []), [0.3])


@pytest.mark.parametrize("kind", ["errorbar", "scatter", "image", "fill", "inset", "colour"])
def test_non_finite_data_in_any_artist_raises(kind):
    def draw(fig, v):
        ax, other = fig.subplots(1, 2)
        ax.plot([0, 1], [0, v])  # a valid panel: the bad data is elsewhere
        other.set_title("bad")
        bad = np.array([1.0, np.inf])
        if kind == "errorbar":
            other.errorbar([1, 2], [1, 2], yerr=bad, label="sim")
        elif kind == "scatter":  # matplotlib masks the point: it would vanish silently
            other.scatter([1, 2], [np.nan, 2])
        elif kind == "image":
            other.imshow([[1.0, np.nan], [0.0, 1.0]])
        elif kind == "fill":
            other.fill([0, 1, bad[1]], [0, 1, 0])
        elif kind == "inset":
            other.plot([0, 1])
            other.inset_axes([0.5, 0.5, 0.4, 0.4]).plot([0, 1], bad)
        elif kind == "colour":
            other.scatter([1, 2], [1, 2], c=[0.0, np.nan], plotnonfinite=True)

    with pytest.raises(ValueError, match=r"alpha_D = 0\.5 is not a valid figure: .*non-finite"):
        dwg.frames(draw, [0.5], pass_figure=True)


def test_a_rich_valid_figure_passes_the_checks():
    rng = np.random.default_rng(0)

    def draw(fig, v):
        a, b, c = fig.subplots(1, 3)
        x = np.linspace(0.1, 1.0, 20)
        a.errorbar(x, v * x, yerr=0.1 * x, fmt="o", label="sim")
        a.fill_between(x, x, x + v, alpha=0.2)
        a.axvspan(0.2, 0.3, alpha=0.1)
        a.axvline(v)
        a.set_xscale("log")
        a.secondary_xaxis("top")
        a.legend()
        b.hist(rng.normal(size=200), bins=20, histtype="step")
        b.hist([1, 2, 2, 3])
        b.scatter(x, x, c=x)
        b.stairs([1, 2], [0, 1, 2])
        im = c.imshow(np.outer(x, x) * v)
        fig.colorbar(im, ax=c)
        c.contour(np.outer(x, x))
        c.inset_axes([0.6, 0.6, 0.3, 0.3]).plot([0, 1])

    images = dwg.frames(draw, [0.05, 1.0], pass_figure=True)
    assert len(images) == 2


# --- every chapter's explorer: its values span the documented range of alpha_D, and so does the live slider ---------

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    out = []
    for cell in cells:
        if cell["cell_type"] == "code":
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            # IPython magics and shell escapes are not Python: a `pass` at the same indentation keeps blocks valid
            out.append("\n".join(line[:len(line) - len(line.lstrip())] + "pass"
                                 if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines()))
    return out


def _explore_calls(path: Path) -> list[ast.Call]:
    calls = []
    for src in _code_cells(path):
        for node in ast.walk(ast.parse(src)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "explore"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "dwg"):
                calls.append(node)
    return calls


def _assignment(path: Path, name: str) -> ast.expr:
    found = [node.value for src in _code_cells(path) for node in ast.walk(ast.parse(src))
             if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)]
    assert len(found) == 1, f"{path.name}: {name} is assigned {len(found)} times"
    return found[0]


def _evaluate(expr: ast.expr, scale: str):
    """Evaluate an expression of the notebook with NumPy only; ``dm.settings.pick`` picks the `scale` value."""
    settings = SimpleNamespace(pick=lambda *, book, full: book if scale == "book" else full)
    namespace = {"np": np, "dm": SimpleNamespace(settings=settings)}
    code = compile(ast.Expression(expr), "<notebook>", "eval")
    return eval(code, {"__builtins__": {}}, namespace)  # noqa: S307 - the book's own source


def chapter_explorers():
    """(chapter, values expression, keyword arguments of the call) for every dwg.explore call of every chapter."""
    out = []
    for path in CHAPTERS:
        for call in _explore_calls(path):
            values = call.args[1] if len(call.args) > 1 else next(k.value for k in call.keywords if k.arg == "values")
            if isinstance(values, ast.Name):
                values = _assignment(path, values.id)
            out.append(pytest.param(path.stem, values, {k.arg: k.value for k in call.keywords},
                                    id=path.stem))
    return out


EXPLORERS = chapter_explorers()


def test_every_chapter_with_an_alpha_D_explorer_is_found():
    # the chapters that state their explorer's range; the empirical-score chapter has none
    assert {p.values[0] for p in EXPLORERS} == {"collapse", "generalization", "hidden_manifold",
                                                  "random_energy_model", "synthesis", "trap_times",
                                                  "your_own_data"}


@pytest.mark.parametrize("scale", ["book", "full"])
@pytest.mark.parametrize(("chapter", "expr", "keywords"), EXPLORERS)
def test_chapter_explorer_spans_the_range_of_alpha_D(chapter, expr, keywords, scale):
    pytest.importorskip("ipywidgets")
    values = np.asarray(_evaluate(expr, scale), dtype=np.float64)
    assert "name" not in keywords  # the parameter is alpha_D, the default
    # the documented range: alpha_D = D / N in (0, 1], from a thin manifold (0.05 or below) up to 1 (full rank)
    assert values.ndim == 1 and values.size >= 8
    assert np.all(values > 0) and np.all(values <= 1.0)
    assert np.all(np.diff(values) > 0), "increasing, so that the slider's ends are the range's ends"
    assert values[0] <= 0.05 and values[-1] == 1.0
    start = _evaluate(keywords["value"], scale) if "value" in keywords else None
    if start is not None:
        assert values[0] <= start <= values[-1]

    seen = []

    def draw(ax, v):
        seen.append(v)
        ax.plot([0.0, 1.0], [0.0, v])

    if scale == "book":  # the build's explorer: the player and the live slider
        ex = dwg.explore(draw, values, value=start, live=True, figsize=(1.6, 1.2))
        assert len(FRAME.findall(ex.html)) == values.size  # the player: one frame per value, both extremes included
        assert seen[0] == values[0] and seen[values.size - 1] == values[-1]
        widget = ex.widget
    else:  # the same construction, without rendering the full scale's frames to PNG (seconds on 2 cores)
        first = values[np.argmin(np.abs(values - start))] if start is not None else values[values.size // 2]
        widget = dwg._live_widget(draw, values, first, name="alpha_D", label=r"$\alpha_D$", figsize=(1.6, 1.2),
                                  pass_figure=False)
    slider = widget.children[0].children[0]
    options = np.array([v for _, v in slider.options])
    np.testing.assert_array_equal(options, values)  # the live slider moves over exactly the same values
    assert options[0] == values[0] and options[-1] == values[-1]
    for end in (values[0], values[-1]):
        slider.value = float(end)  # both ends redraw through the same checked function
    assert seen[-2:] == [values[0], values[-1]]
