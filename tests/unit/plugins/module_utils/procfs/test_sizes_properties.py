"""Properties of size parsing (sizes.py) over many drawn values: round trips, units, the bound,
and junk that must be refused with a SizeError, never another exception."""

from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import sizes
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import LARGEST, MAX, SizeError, parse_size

IN_RANGE = st.integers(min_value=0, max_value=LARGEST)
ABOVE = st.integers(min_value=LARGEST + 1, max_value=1 << 80)
# Every way a unit may be written, with its factor.
UNIT_SPELLINGS = [("", 1), ("b", 1), ("B", 1)] + [
    (spelling, factor) for letter, factor in (("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40))
    for spelling in (letter, letter.upper(), letter.upper() + "iB", letter + "ib")]


@given(IN_RANGE)
def test_digits_are_bytes(number):
    assert parse_size(str(number)) == number
    assert parse_size(number) == number
    assert parse_size(" %d\n" % number) == number


@given(IN_RANGE)
def test_human_round_trips(number):
    assert parse_size(sizes.human(number)) == number


@given(st.integers(min_value=0, max_value=1 << 45), st.sampled_from(UNIT_SPELLINGS))
def test_a_number_with_a_unit_is_number_times_unit(number, unit):
    spelling, factor = unit
    text = "%d%s" % (number, spelling)
    if number * factor <= LARGEST:
        assert parse_size(text) == number * factor
    else:
        _refused_as_too_large(text)


@given(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=0, max_value=999),
       st.sampled_from([spelling for spelling, factor in UNIT_SPELLINGS if factor > 1]))
def test_a_fraction_is_exact_and_rounded_down(whole, thousandths, spelling):
    factor = dict(UNIT_SPELLINGS)[spelling]
    text = "%d.%03d%s" % (whole, thousandths, spelling)
    expected = (whole * 1000 + thousandths) * factor // 1000
    if expected <= LARGEST:
        assert parse_size(text) == expected
    else:
        _refused_as_too_large(text)


def _refused_as_too_large(value):
    try:
        parse_size(value, "memory_max")
    except SizeError as error:
        assert str(error).startswith("memory_max: ") and "above the largest size" in str(error)
    else:
        raise AssertionError("%r was accepted" % (value,))


@given(ABOVE)
def test_above_the_bound_is_always_refused(number):
    _refused_as_too_large(number)
    _refused_as_too_large(str(number))
    _refused_as_too_large(sizes.human(number))


JUNK = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789.,-+ eEkKmMgGtTpPiIbB%\t\n_xX", max_size=40),
    st.integers(min_value=4000, max_value=5000).map(lambda digits: "7" * digits),
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@given(JUNK)
def test_junk_is_a_size_error_or_a_size_in_range(value):
    try:
        result = parse_size(value, "memory_max")
    except SizeError as error:
        assert error.__class__ is SizeError and str(error).startswith("memory_max: ")
        return
    assert result == MAX or (isinstance(result, int) and not isinstance(result, bool) and 0 <= result <= LARGEST)


@given(JUNK)
def test_junk_thresholds_are_a_size_error_or_an_amount_in_range(value):
    try:
        amount, percent = sizes.parse_size_or_percent(value, "warn", unit=1024)
    except SizeError as error:
        assert error.__class__ is SizeError and str(error).startswith("warn: ")
        return
    assert (amount is None and 0 < percent < 100) or (percent is None and 0 < amount <= LARGEST // 1024)
