"""Properties of the /proc/<pid>/stat parser (processes.parse_stat) and the status kB parser
(status.parse_status_kb) over many drawn values: any comm round-trips, the fields after it parse to
the right ints, and junk is refused with a StatError (or skipped), never another exception."""

from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import processes as p
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.status import parse_status_kb

# What prctl(PR_SET_NAME) lets a process call itself: anything but NUL (spaces, parentheses,
# newlines, other scripts); the kernel keeps 15 bytes, the parser must not care.
COMMS = st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=40)
UNSIGNED = st.integers(min_value=0, max_value=(1 << 64) - 1)
STATES = st.sampled_from("RSDZTtWXxKPI")
# Characters junk is made of: the stat line's own, and others.
JUNK = st.text(alphabet=st.sampled_from("0123456789 ()-\n\t\u0661\u00b2_xR") | st.characters(), max_size=80)


def stat_line(pid, comm, state, ppid, flags, starttime, tail=" 10000 300 18446744073709551615 0 0\n"):
    """A stat line as fs/proc/array.c writes it: pid (comm) state ppid pgrp session tty_nr tpgid
    flags ... starttime (field 22) ..."""
    return "%d (%s) %s %d %d %d 0 -1 %d 100 0 0 0 5 3 0 0 20 0 1 0 %d%s" % (
        pid, comm, state, ppid, pid, pid, flags, starttime, tail)


@given(st.integers(min_value=1, max_value=p.PID_MAX_LIMIT), COMMS, STATES, UNSIGNED, UNSIGNED, UNSIGNED)
def test_any_comm_round_trips_and_the_fields_after_it_are_ints(pid, comm, state, ppid, flags, starttime):
    stat = p.parse_stat(stat_line(pid, comm, state, ppid, flags, starttime))
    assert stat == {"comm": comm, "state": state, "ppid": ppid, "flags": flags, "starttime": starttime}


@given(COMMS, UNSIGNED)
def test_a_comm_that_looks_like_the_fields_does_not_shift_them(name, starttime):
    # A process may call itself ") R 1 2 3": the fields are the ones after the last ")".
    comm = name + ") R 7 7 7 0 -1 0 1 0 0 0 5 3 0 0 20 0 1 0 99"
    stat = p.parse_stat(stat_line(42, comm, "S", 1, 0, starttime))
    assert stat["comm"] == comm and stat["ppid"] == 1 and stat["starttime"] == starttime


@given(JUNK)
def test_junk_is_a_stat_error_or_a_stat(text):
    try:
        stat = p.parse_stat(text)
    except p.StatError:
        return
    assert isinstance(stat["comm"], str) and isinstance(stat["state"], str)
    assert all(isinstance(stat[key], int) and stat[key] >= 0 for key in ("ppid", "flags", "starttime"))


@given(st.integers(min_value=1, max_value=999), COMMS, UNSIGNED, st.integers(min_value=0, max_value=80))
def test_a_line_cut_short_is_a_stat_error(pid, comm, starttime, keep):
    # An exiting process, or a read cut short: everything before field 22 is not enough.
    line = stat_line(pid, comm, "S", 1, 0, starttime, tail="\n")
    cut = line[:line.rindex(")") + 1 + keep]
    if len(cut.split(")")[-1].split()) >= 20:
        return  # still holds every field the parser takes
    try:
        p.parse_stat(cut)
    except p.StatError:
        return
    raise AssertionError("parsed a cut line: %r" % cut)


@given(st.sampled_from(["\u0661", "\u00b2", "1_0", "+1", "0x1"]), st.integers(min_value=0, max_value=19))
def test_numbers_are_ascii_digits_only(number, field):
    # int() reads "\u0661" as 1 and "1_0" as 10; "\u00b2".isdigit() is true but int() refuses it.
    fields = "S 1 1 1 0 -1 0 100 0 0 0 5 3 0 0 20 0 1 0 4242".split()
    if field in (1, 6, 19):  # the ppid, flags and starttime the parser reads
        fields[field] = number
        try:
            p.parse_stat("9 (x) %s\n" % " ".join(fields))
        except p.StatError:
            return
        raise AssertionError("took %r as a number" % number)


@given(st.text(max_size=200))
def test_status_kb_never_raises_and_takes_ascii_numbers_only(text):
    sizes = parse_status_kb(text)
    assert all(isinstance(value, int) and value >= 0 for value in sizes.values())


@given(st.sampled_from(["VmRSS", "VmSwap", "RssAnon"]), st.integers(min_value=0, max_value=1 << 48),
       st.sampled_from(["\t", " ", "\t   "]))
def test_status_kb_round_trips(name, kb, gap):
    assert parse_status_kb("Name:\tx\n%s:%s%d kB\nThreads:\t1\n" % (name, gap, kb)) == {name: kb}


def test_status_kb_refuses_other_scripts_digits():
    # "\u00b2".isdigit() is true but int() raises: the line is not a size.
    assert parse_status_kb("VmRSS:\t\u00b2 kB\nVmSwap:\t\u0661 kB\nVmHWM:\t12 kB\n") == {"VmHWM": 12}
