"""Properties of the sysctl.d parser and renderer (sysctl.py) and of the profile's value check
(vm_profile.py) over many drawn profiles: round trips, whitespace and comment variants, slash
and dot spellings, and values that are refused with a message, never an exception."""

from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils import sysctl, vm_profile

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12).map("vm.".__add__)
NUMBERS = st.lists(st.integers(min_value=vm_profile.ANY_LOW, max_value=vm_profile.ANY_HIGH), min_size=1, max_size=3)
INTEGER_VALUES = NUMBERS.map(lambda numbers: " ".join(str(number) for number in numbers))
# Any one-line value the renderer may be given, as the kernel prints it (normalized).
TEXT_VALUES = st.text(min_size=1, max_size=20).map(sysctl.normalize_value).filter(bool)
PROFILES = st.dictionaries(KEYS, st.one_of(INTEGER_VALUES, TEXT_VALUES), min_size=1, max_size=5)
HEADERS = st.text(max_size=60)
BLANKS = st.text(alphabet=" \t", max_size=3)
# One line of comment text: anything but what splits lines (and lone surrogates).
LINE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                           blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                    max_size=20)
COMMENTS = st.tuples(st.sampled_from("#;"), LINE_TEXT).map("".join)


def parsed(text):
    return sysctl.conf_values(sysctl.parse_conf(text))


@given(PROFILES, HEADERS)
def test_parse_of_render_is_the_profile_and_render_is_stable(profile, header):
    text = sysctl.render_conf(profile, header)
    assert parsed(text) == profile
    assert sysctl.render_conf(parsed(text), header) == text
    assert [entry["key"] for entry in sysctl.parse_conf(text)] == sorted(profile)


@st.composite
def written_by_hand(draw):
    """A profile and a file that sets it as a person might write it: keys with dots or slashes,
    white space around everything and inside values, comments and blank lines between the
    lines, a `;` comment holding a key, LF or CRLF line ends."""
    profile = draw(st.dictionaries(KEYS, NUMBERS, min_size=1, max_size=5))
    lines = []
    for key, numbers in profile.items():
        lines.append(draw(st.one_of(COMMENTS, BLANKS)))
        lines.append(draw(st.sampled_from(["# %s = 99", "; %s=99", "  #%s = 99"])) % key)
        spelled = key.replace(".", "/") if draw(st.booleans()) else key
        separators = draw(st.lists(st.text(alphabet=" \t", min_size=1, max_size=3),
                                   min_size=len(numbers) - 1, max_size=len(numbers) - 1))
        value = str(numbers[0]) + "".join(sep + str(number) for sep, number in zip(separators, numbers[1:]))
        lines.append("%s%s%s=%s%s%s" % (draw(BLANKS), spelled, draw(BLANKS), draw(BLANKS), value, draw(BLANKS)))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    return dict((key, " ".join(str(number) for number in numbers)) for key, numbers in profile.items()), text


@given(written_by_hand())
def test_comments_blank_lines_and_white_space_do_not_change_the_values(case):
    profile, text = case
    assert parsed(text) == profile


@given(PROFILES)
def test_slash_keys_parse_as_dot_keys(profile):
    dotted = "".join("%s = %s\n" % (key, value) for key, value in profile.items())
    slashed = "".join("%s = %s\n" % (key.replace(".", "/"), value) for key, value in profile.items())
    assert sysctl.parse_conf(slashed) == sysctl.parse_conf(dotted)
    assert all(sysctl.normalize_key(key.replace(".", "/")) == key for key in profile)


@given(st.dictionaries(KEYS, INTEGER_VALUES, min_size=1, max_size=4), st.data())
def test_a_key_in_both_spellings_is_always_refused_naming_both(profile, data):
    key = data.draw(st.sampled_from(sorted(profile)))
    settings = dict(profile, **{key.replace(".", "/"): profile[key]})
    _resolved, errors = vm_profile.validate_settings(settings, 4000000)
    assert any(key in error and key.replace(".", "/") in error for error in errors)


ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(),
    NUMBERS.map(lambda numbers: "\t".join(str(number) for number in numbers)),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@given(st.one_of(st.sampled_from(sorted(vm_profile.KNOWN_RANGES)), KEYS), ANY_VALUE,
       st.one_of(st.none(), st.integers(min_value=0, max_value=2 ** 40)))
def test_check_value_answers_every_value_without_raising(key, value, memtotal_kb):
    resolved, problem = vm_profile.check_value(key, value, memtotal_kb)
    assert (resolved is None) != (problem is None)
    if problem is not None:
        assert problem.startswith(key + " = ")
        return
    numbers = [int(word) for word in resolved.split(" ")]
    assert " ".join(str(number) for number in numbers) == resolved
    if key in vm_profile.KNOWN_RANGES:
        low, high = vm_profile.KNOWN_RANGES[key]
        assert len(numbers) == 1 and low <= numbers[0] <= high
    else:
        assert all(vm_profile.ANY_LOW <= number <= vm_profile.ANY_HIGH for number in numbers)
