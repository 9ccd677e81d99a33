"""Properties of the PSI parser (module_utils/procfs/pressure.py), with Hypothesis: generated
``some``/``full`` lines as kernel/sched/psi.c prints them parse to the generated numbers, and
junk raises nothing but the documented errors (ValueError from parse_psi, PsiUnavailable from
read_psi)."""

from __future__ import annotations

import math

from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure

# psi_show prints each average as "%lu.%02lu" (hundredths of a percent) and total in microseconds.
HUNDREDTHS = st.integers(0, 10000)
TOTAL = st.integers(0, 2 ** 64 - 1)
LINE_VALUES = st.fixed_dictionaries({"avg10": HUNDREDTHS, "avg60": HUNDREDTHS, "avg300": HUNDREDTHS, "total": TOTAL})


def psi_line(kind, values):
    averages = " ".join("%s=%d.%02d" % (window, values[window] // 100, values[window] % 100) for window in pressure.WINDOWS)
    return "%s %s total=%d\n" % (kind, averages, values["total"])


@given(st.one_of(st.none(), LINE_VALUES), st.one_of(st.none(), LINE_VALUES), st.booleans())
def test_generated_psi_text_parses_to_the_generated_numbers(some, full, full_first):
    lines = [psi_line(kind, values) for kind, values in (("some", some), ("full", full)) if values is not None]
    parsed = pressure.parse_psi("".join(reversed(lines) if full_first else lines))
    for kind, values in (("some", some), ("full", full)):
        if values is None:
            assert parsed[kind] is None
            continue
        assert parsed[kind]["total"] == values["total"]
        for window in pressure.WINDOWS:
            assert parsed[kind][window] == values[window] / 100.0 or math.isclose(parsed[kind][window], values[window] / 100.0)


PSI_WORDS = st.sampled_from(["some", "full", "avg10=", "avg60=", "avg300=", "total=", "1.00", "42", " ", "\n", "=", "-1", "nan", "\t"])
JUNK = st.one_of(st.text(max_size=80), st.lists(PSI_WORDS, max_size=20).map("".join),
                 st.builds(lambda line, tail: line + tail, LINE_VALUES.map(lambda values: psi_line("some", values)), st.text(max_size=20)))


@given(JUNK)
def test_junk_raises_only_valueerror(text):
    try:
        parsed = pressure.parse_psi(text)
    except ValueError as error:
        assert "not a PSI line" in str(error) or "digits" in str(error)
    else:
        assert set(parsed) == {"some", "full"}
        for values in parsed.values():
            assert values is None or (values["total"] >= 0 and all(values[window] >= 0 for window in pressure.WINDOWS))


@given(JUNK)
def test_junk_files_raise_only_psiunavailable(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("psi") / "memory"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        pressure.read_psi(str(path))
    except pressure.PsiUnavailable as error:
        assert error.reason in ("empty", "malformed") and error.path == str(path)


@given(st.binary(max_size=80), LINE_VALUES)
def test_files_with_bytes_that_are_not_text_raise_only_psiunavailable(tmp_path_factory, junk, values):
    path = tmp_path_factory.mktemp("psi") / "memory"
    path.write_bytes(psi_line("some", values).encode() + junk)
    try:
        parsed = pressure.read_psi(str(path))
    except pressure.PsiUnavailable as error:
        assert error.reason == "malformed" and error.path == str(path)
    else:
        assert parsed["some"]["total"] == values["total"]


def test_a_file_that_is_not_utf8_is_malformed(tmp_path):
    path = tmp_path / "memory"
    path.write_bytes(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n\xff\xfe\n")
    try:
        pressure.read_psi(str(path))
    except pressure.PsiUnavailable as error:
        assert error.reason == "malformed" and "UTF-8" in error.detail
    else:
        raise AssertionError("read_psi accepted bytes that are not text")
