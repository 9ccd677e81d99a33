"""Properties of the OOM report parser (module_utils/kernel_log.py), with Hypothesis: generated
mm/oom_kill.c reports (5.x/6.x and 4.x kill lines, global and memcg) parse back to exactly the
generated fields, and no junk line makes the parser raise."""

from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log

# A task's comm as the kernel prints it (TASK_COMM_LEN 16: at most 15 characters): spaces and
# parentheses included; not starting with a space (the parser strips each message).
COMM = st.text(st.sampled_from("abcxyzAZ019_-./:()[] "), min_size=1, max_size=15).filter(lambda comm: comm[0] != " ")
PID = st.integers(1, 4194304)
KB = st.integers(0, 2 ** 40)
ADJ = st.integers(-1000, 1000)
UID = st.integers(0, 2 ** 32 - 1)
GFP_FLAGS = st.sampled_from(["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE|__GFP_COMP", "GFP_KERNEL_ACCOUNT|__GFP_ZERO", ""])
MEMCG = st.sampled_from(["/system.slice/camera-record.service", "/user.slice/user-1000.slice/session-3.scope", "/"])


@st.composite
def reports(draw):
    """(the lines of one report, the event the parser must return)."""
    victim = {"pid": draw(PID), "comm": draw(COMM), "uid": draw(UID), "total_vm_kb": draw(KB),
              "anon_rss_kb": draw(KB), "file_rss_kb": draw(KB), "shmem_rss_kb": draw(KB),
              "pgtables_kb": draw(KB), "oom_score_adj": draw(ADJ)}
    invoker = {"comm": draw(COMM), "pid": draw(PID), "uid": None, "gfp_mask": "0x%x" % draw(st.integers(0, 2 ** 32)),
               "gfp_flags": draw(GFP_FLAGS), "order": draw(st.integers(0, 10)), "oom_score_adj": draw(ADJ)}
    memcg = draw(st.booleans())
    task_memcg = draw(MEMCG)
    new_cpu_line = draw(st.booleans())  # 6.10+ prints the UID on the CPU line
    if new_cpu_line:
        invoker["uid"] = draw(UID)
    old_kill_line = draw(st.booleans())  # before 5.3: no UID, pgtables, oom_score_adj
    lines = [
        "%s invoked oom-killer: gfp_mask=%s(%s), order=%d, oom_score_adj=%d" % (
            invoker["comm"], invoker["gfp_mask"], invoker["gfp_flags"], invoker["order"], invoker["oom_score_adj"]),
        "CPU: 5 %sPID: %d Comm: %s Not tainted 6.1.0-18-arm64 #1 Debian 6.1.76-1" % (
            "UID: %d " % invoker["uid"] if new_cpu_line else "", invoker["pid"], invoker["comm"]),
    ]
    if memcg:
        lines.append("memory: usage 262144kB, limit 262144kB, failcnt 17")
    lines.append("oom-kill:constraint=%s,nodemask=(null),cpuset=/,mems_allowed=0,%s,task_memcg=%s,task=%s,pid=%d,uid=%d" % (
        "CONSTRAINT_MEMCG" if memcg else "CONSTRAINT_NONE", "oom_memcg=%s" % task_memcg if memcg else "global_oom",
        task_memcg, victim["comm"], victim["pid"], victim["uid"]))
    kill = "%s: Killed process %d (%s) total-vm:%dkB, anon-rss:%dkB, file-rss:%dkB, shmem-rss:%dkB" % (
        "Memory cgroup out of memory" if memcg else "Out of memory", victim["pid"], victim["comm"], victim["total_vm_kb"],
        victim["anon_rss_kb"], victim["file_rss_kb"], victim["shmem_rss_kb"])
    if old_kill_line:
        victim.update(uid=None, pgtables_kb=None, oom_score_adj=None)
    else:
        kill += ", UID:%d pgtables:%dkB oom_score_adj:%d" % (victim["uid"], victim["pgtables_kb"], victim["oom_score_adj"])
    lines.append(kill)
    expected = {"victim": victim, "invoker": invoker, "memcg": memcg, "kind": "memcg" if memcg else "global",
                "constraint": "CONSTRAINT_MEMCG" if memcg else "CONSTRAINT_NONE",
                "oom_memcg": task_memcg if memcg else None, "task_memcg": task_memcg,
                "message": "Memory cgroup out of memory" if memcg else "Out of memory",
                "memcg_usage_kb": 262144 if memcg else None}
    return lines, expected


@given(st.lists(reports(), min_size=1, max_size=4), st.integers(1714550000, 1900000000))
def test_generated_reports_parse_back_to_their_fields(generated, start):
    records, time = [], start
    for lines, _expected in generated:
        time += 60  # a minute apart: each header applies to its own kill line only
        records += [(time + index / 1000.0, line, "b00t") for index, line in enumerate(lines)]
    events = kernel_log.parse_oom_events(records)
    assert len(events) == len(generated)
    for event, (_lines, expected) in zip(events, generated):
        assert dict((key, event[key]) for key in expected) == expected
        assert event["boot_id"] == "b00t" and event["reaped"] is None


@given(st.lists(reports(), min_size=1, max_size=6), st.integers(0, 7))
def test_the_bounded_parser_keeps_the_newest_and_counts_all(generated, keep):
    records = [(1714550000 + 60 * number + index / 1000.0, line)
               for number, (lines, _expected) in enumerate(generated) for index, line in enumerate(lines)]
    events, total = kernel_log.newest_oom_events(iter(records), keep=keep)
    assert total == len(generated) and events == kernel_log.parse_oom_events(records)[len(generated) - min(keep, len(generated)):]


# Junk: random text, and the start of every line kind followed by random text.
PREFIXES = st.sampled_from([
    "", "CPU: 1 PID: ", "CPU: 1 UID: x PID: 7 Comm: ", "memory: usage ", "oom-kill:constraint=", "Out of memory: Killed process ",
    "Killed process 12 (", "oom_reaper: reaped process ", "Tasks in / are going to be killed due to memory.oom.group set",
    "Out of memory and no killable processes", "x invoked oom-killer: gfp_mask=0x1, order=", "x invoked oom-killer: ",
    "CPU: 2 PID: 9 Comm: a Not tainted ", "<3>[ 12.5] ", "2024-05-01T10:00:00,1+0200 ", "May  1 10:00:00 rock5b kernel: ",
])
JUNK = st.builds(lambda prefix, tail: prefix + tail, PREFIXES, st.text(max_size=60))


@given(st.lists(st.one_of(JUNK, reports().map(lambda report: report[0][0]), reports().map(lambda report: report[0][-1])), max_size=25),
       st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=4e9)), min_size=1, max_size=5))
def test_junk_lines_never_raise(lines, times):
    records = [(times[index % len(times)], line) for index, line in enumerate(lines)]
    events = kernel_log.parse_oom_events(records)
    assert kernel_log.newest_oom_events(iter(records), keep=3)[1] == len(events)
    for line in lines:
        assert kernel_log.line_kind(line.strip()) in ("start", "event", "report", None)
    list(kernel_log.dmesg_records(lines, boot_time=1714550000.0))
    list(kernel_log.journal_records(lines))
