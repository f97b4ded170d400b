import numpy as np
import pytest

from pyfast._checks import check_int, check_non_negative, check_positive


@pytest.mark.parametrize("value", [0, 0.0, 2, 2.5, np.float32(1.5), np.int64(3)])
def test_non_negative_numbers_come_back_as_floats(value):
    assert check_non_negative(value, "v") == float(value)


@pytest.mark.parametrize("value, message", [
    (-1, "v must be a finite number >= 0, got -1"),
    (float("nan"), "v must be a finite number >= 0, got nan"),
    (float("inf"), "v must be a finite number >= 0, got inf"),
    ("1", "v must be a number >= 0, got '1'"),  # a string is refused, not converted
    (None, "v must be a number >= 0, got None"),
])
def test_non_negative_refuses(value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_non_negative(value, "v")


@pytest.mark.parametrize("value, message", [
    (0, "v must be a finite number > 0, got 0"),
    (-0.5, "v must be a finite number > 0, got -0.5"),
    (b"1", "v must be a number > 0, got b'1'"),
])
def test_positive_refuses_zero_and_below(value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_positive(value, "v")
    assert check_positive(1e-30, "v") == 1e-30


def test_check_int_takes_numpy_integers_but_not_bools_or_floats():
    assert check_int(np.int32(4), "n") == 4 and type(check_int(np.int32(4), "n")) is int
    for bad in (True, 2.0, "2", 0):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            check_int(bad, "n")


def test_check_fraction():
    from pyfast._checks import check_fraction

    assert check_fraction(0, "s") == 0.0 and check_fraction(1, "s") == 1.0
    for bad, message in ((1.01, r"got 1.01"), (-0.1, "got -0.1"), ("0.5", "got '0.5'"), (float("nan"), "got nan")):
        with pytest.raises(ValueError, match=r"^s must be a number in \[0, 1\], " + message):
            check_fraction(bad, "s")


def test_check_seed():
    from pyfast._checks import MAX_SEED, check_seed

    assert check_seed(np.uint32(MAX_SEED)) == MAX_SEED and check_seed(0) == 0
    for bad, message in ((-1, "seed must be an integer >= 0"), (MAX_SEED + 1, f"seed must be in 0..{MAX_SEED}"),
                         (1.0, "seed must be an integer >= 0")):
        with pytest.raises(ValueError, match=message):
            check_seed(bad)
