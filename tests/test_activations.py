import math

import numpy as np
import pytest
from scipy import integrate

from diffmem.activations import ACTIVATIONS, get_activation

SQ2PI = math.sqrt(2 * math.pi)


def gauss_mean(f, kinks=()):
    """E f(h), h ~ N(0, 1), by quadrature split at the kinks (independent of the module's closed forms)."""
    points = [-np.inf, *kinks, np.inf]
    total = 0.0
    for lo, hi in zip(points[:-1], points[1:], strict=True):
        total += integrate.quad(lambda h: f(h) * math.exp(-h * h / 2) / SQ2PI, lo, hi, epsabs=1e-13)[0]
    return total


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_normalised_phi_has_zero_mean_and_unit_variance(name):
    act = get_activation(name)
    f = lambda h: float(act(np.array([h]))[0])  # noqa: E731
    kinks = act.kinks
    assert gauss_mean(f, kinks) == pytest.approx(0.0, abs=1e-10)
    assert gauss_mean(lambda h: f(h) ** 2, kinks) == pytest.approx(1.0, abs=1e-10)
    assert act.mean == pytest.approx(0.0, abs=1e-15)
    assert act.variance == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("normalize", ["unit_variance", "raw"])
def test_mu1_is_the_gaussian_projection_on_h(name, normalize):
    act = get_activation(name, normalize)
    f = lambda h: h * float(act(np.array([h]))[0])  # noqa: E731
    assert act.mu1 == pytest.approx(gauss_mean(f, act.kinks), abs=1e-10)
    assert act.mu_star**2 == pytest.approx(act.variance - act.mu1**2, abs=1e-12)


def test_raw_moments_match_known_values():
    relu = get_activation("relu", "raw")
    assert relu.mean == pytest.approx(1 / SQ2PI)
    assert relu.variance == pytest.approx(0.5 - 1 / (2 * math.pi))
    sign = get_activation("sign", "raw")
    assert sign.mu1 == pytest.approx(math.sqrt(2 / math.pi))
    tanh = get_activation("tanh", "raw")
    assert tanh.variance == pytest.approx(0.394294, abs=1e-6)  # E tanh(h)^2, a classical constant


@pytest.mark.parametrize("name", ["linear", "tanh", "relu"])
def test_derivative_matches_finite_differences(name):
    act = get_activation(name)
    h = np.linspace(-3, 3, 61)
    h = h[np.abs(h) > 1e-3]  # away from the kink of relu
    eps = 1e-6
    fd = (act(h + eps) - act(h - eps)) / (2 * eps)
    np.testing.assert_allclose(act.derivative(h), fd, atol=1e-7)


def test_atoms_carry_the_right_mass_in_output_units():
    relu = get_activation("relu")
    ((value, mass),) = relu.atoms
    assert mass == 0.5
    assert value == pytest.approx(float(relu(np.array([0.0]))[0]))
    sign = get_activation("sign")
    assert [v for v, _ in sign.atoms] == [-1.0, 1.0]
    assert get_activation("tanh").atoms == ()
    assert get_activation("relu").p_nonzero_derivative == 0.5


@pytest.mark.parametrize(("phi", "normalize", "match"), [("softplus", "unit_variance", "phi must be one of"),
                                                          ("tanh", "zscore", "normalize must be one of"),
                                                          (None, "raw", "phi must be one of")])
def test_unknown_names_are_rejected(phi, normalize, match):
    with pytest.raises(ValueError, match=match):
        get_activation(phi, normalize)
