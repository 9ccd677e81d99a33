"""The one rule for numbers an operator types (module_utils/numbers.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.numbers import finite_number, whole_number


@pytest.mark.parametrize("value, expected", [(5, 5.0), (2.5, 2.5), ("7", 7.0), (" 1.25 ", 1.25), (0, 0.0), (100, 100.0)])
def test_finite_number_accepts_numbers_and_numeric_strings(value, expected):
    assert finite_number(value, "max_full_avg10", 0, 100) == expected


@pytest.mark.parametrize("value, words", [
    (True, "must be a number, got True"), (False, "must be a number, got False"),
    (float("nan"), "must be a finite number"), ("nan", "must be a finite number"),
    (float("inf"), "must be a finite number"), ("-inf", "must be a finite number"),
    ("lots", "must be a number"), (None, "must be a number"), ([5], "must be a number"), ({"a": 1}, "must be a number"),
    (-1, "must be between 0 and 100, got -1"), (100.5, "must be between 0 and 100"), ("1e400", "must be a finite number"),
])
def test_finite_number_refuses_naming_the_option(value, words):
    with pytest.raises(ModuleError) as caught:
        finite_number(value, "max_full_avg10", 0, 100)
    assert caught.value.msg.startswith("max_full_avg10 must be ") and words in caught.value.msg


def test_one_sided_bounds():
    assert finite_number(-5, "x") == -5.0
    with pytest.raises(ModuleError, match=r"^x must be >= 1, got 0$"):
        finite_number(0, "x", minimum=1)
    with pytest.raises(ModuleError, match=r"^x must be <= 60, got 61$"):
        finite_number(61, "x", maximum=60)


def test_whole_number():
    assert whole_number(50, "max_events", 0, 10000) == 50
    assert whole_number("12", "max_events") == 12 and whole_number(3.0, "max_events") == 3
    for value, words in ((True, "must be a number"), (2.5, "must be a whole number"), (-1, "must be between 0 and 10000"),
                         (10 ** 30, "must be between 0 and 10000"), (2 ** 31, "between 0 and 10000"), (float("nan"), "finite")):
        with pytest.raises(ModuleError) as caught:
            whole_number(value, "max_events", 0, 10000)
        assert caught.value.msg.startswith("max_events must be ") and words in caught.value.msg


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.booleans(), st.text(max_size=12), st.none()))
def test_finite_number_returns_a_number_in_range_or_names_the_option(value):
    try:
        number = finite_number(value, "limit", 0, 100)
    except ModuleError as error:
        assert error.msg.startswith("limit must be ")
    else:
        assert math.isfinite(number) and 0 <= number <= 100 and not isinstance(value, bool)


def test_large_bounds_are_written_whole():
    with pytest.raises(ModuleError, match=r"^max_bytes must be between 4096 and 1073741824, got 0$"):
        whole_number(0, "max_bytes", 4096, 1 << 30)
    with pytest.raises(ModuleError, match=r"^x must be between 0.5 and 2.5, got 3$"):
        finite_number(3, "x", 0.5, 2.5)


@pytest.mark.parametrize("value", ["٥", "١٠٠", "５", "²"])
def test_digits_other_than_ascii_are_refused(value):
    # float("٥") is 5.0: a number typed in another script is a typo, not a number.
    with pytest.raises(ModuleError, match="^x must be a number"):
        finite_number(value, "x")
    with pytest.raises(ModuleError, match="^x must be a number"):
        whole_number(value, "x")
