# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: every board's facts and drift as one dict, written as JSON and HTML.

Runs on the controller (playbooks/report.yml's last play, on localhost) and reads what the
earlier plays left in ``hostvars``: ``rock5b_oom_report_reach`` (report.yml's ping, with
``ignore_unreachable``: its ``msg`` says why a board could not be reached),
``audit_oom_facts`` (playbooks/audit.yml's registered ``rock5b.oom.oom_facts`` result; a
registered result, not a fact, so a fact cache never passes old data off as new) and
``audit_findings`` (the audit's drift). A board without a reach result was not part of this
run (``--limit``) and is left out. ``plugins/module_utils/report_page.py`` renders the page.

The report, the contract between this action, report.json's readers and the page renderer::

    {"generated": "<ISO 8601 UTC>", "inventory": "<inventory source(s)>", "collection_version": "<galaxy.yml version>",
     "boards": [  # one per board of the run, sorted by name, unreachable and failed ones included
       {"name": str, "reachable": bool, "reason": str|null,  # why not reachable / not collected, else null
        "ram_bytes": int|null, "mem_available_bytes": int|null, "mem_available_percent": float|null,
        "swap_total_bytes": int|null, "swap_used_bytes": int|null, "zram_total_bytes": int|null, "zram_used_bytes": int|null,
        "psi": {"some_avg10": float, "some_avg60": float, "full_avg10": float, "full_avg60": float} | null,  # null: no PSI
        "commit_limit_bytes": int|null, "committed_as_bytes": int|null,
        "oom_kills_since_boot": int|null, "oom_kills_24h": int|null, "oom_kills_7d": int|null,
        "victims": [{"comm": str, "pid": int, "rss_bytes": int|null, "time": "<ISO>", "cgroup": str|null}],  # newest first, <= 5
        "kill_times": ["<ISO>", ...],  # every OOM kill of the last 7 days, oldest first
        "monitor": {"state": "active"|"inactive"|"failed"|"absent", "level": "ok"|"warn"|"critical"|null,
                    "status": str|null,  # its systemd status text and the actions it counted since it started
                    "last_action": {"action": str, "target": str|null, "time": "<ISO>"}|null},  # its latest action
        "killers": [str],  # userspace killers running: rock5b-oom-monitor, systemd-oomd, earlyoom, nohang
        "warn_bytes": int|null, "critical_bytes": int|null,  # the monitor's resolved thresholds when known
        "drift": [str]}],  # the audit's findings (empty: converged)
     "summary": {"boards": int, "drifted": int, "unreachable": int, "under_pressure": int, "oom_kills_24h": int,
                 "oom_kills_7d": int, "without_psi": int, "killers": {"<name>": count}}}

Every value is null where it is unknown: on a board that was not collected, a kernel without
the field, a kernel log that could not be read (the OOM counts of the windows). Sizes are
bytes. ``zram_total_bytes`` is the zram devices' disksize, ``zram_used_bytes`` the data they
hold (uncompressed; mm_stat), else the zram swap in use. The windows (24 h, 7 days) are
counted back from ``generated`` on the controller's clock, from each kill's time.

``summary``: ``drifted`` boards with findings; ``unreachable`` boards not reachable;
``under_pressure`` collected boards whose monitor is at warn or critical, or whose available
memory is below the monitor's warn threshold (as the monitor decides), or whose PSI some avg10 is at least
report_page.PSI_SOME_AVG10_PRESSURE percent (report_page.board_problems decides); the OOM
kill counts are sums over the boards that know theirs; ``without_psi`` collected boards without PSI; ``killers`` how many boards run each.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.rock5b.oom.plugins.module_utils import report_page

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAY_S = 86400
WEEK_S = 7 * DAY_S
MAX_VICTIMS = 5
PRESSURE = {report_page.CRITICAL, report_page.PRESSURE}
REPORT_JSON = "report.json"
REPORT_HTML = "index.html"
REACH_VAR, FACTS_VAR, DRIFT_VAR = "rock5b_oom_report_reach", "audit_oom_facts", "audit_findings"
NOT_FINISHED = ("reached, but the audit did not finish on this board (a task failed or the connection dropped; "
                "its error is in the output above)")


def report_dir_problem(value):
    """Why ``value`` cannot be the report directory (rock5b_oom_report_dir), or None.

    A path, absolute or relative to the directory ansible-playbook runs in; not empty, one
    line, and not an existing file that is not a directory."""
    if not isinstance(value, str):
        return "rock5b_oom_report_dir must be a path (a string), not %s" % type(value).__name__
    if not value.strip():
        return "rock5b_oom_report_dir must not be empty"
    if value != value.strip() or any(ch in value for ch in "\0\n\r"):
        return "rock5b_oom_report_dir %r has leading or trailing blanks, a line break or a NUL" % value
    if os.path.exists(value) and not os.path.isdir(value):
        return "rock5b_oom_report_dir %s exists and is not a directory" % value
    return None


def _kb_bytes(value):
    return None if value is None else int(value) * 1024


def _text_or_none(value):
    return to_text(value) if value else None


def _iso(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


def _victim(event):
    victim = event["victim"]
    rss = [victim.get(key) for key in ("anon_rss_kb", "file_rss_kb", "shmem_rss_kb")]
    return {
        "comm": to_text(victim.get("comm") or ""), "pid": int(victim.get("pid")),
        "rss_bytes": None if all(kb is None for kb in rss) else sum(int(kb or 0) for kb in rss) * 1024,
        "time": to_text(event.get("time") or ""),
        "cgroup": _text_or_none(event.get("task_memcg") or event.get("oom_memcg")),
    }


def kill_facts(facts, now):
    """The board's OOM kill counts, the victims (newest first) and the kill times of the last 7 days."""
    events = list(facts.get("oom_events") or [])
    log = facts.get("oom_log") or {}
    known = log.get("source") not in (None, "none") and not log.get("error")
    stamps = [float(e["timestamp"]) for e in events if e.get("timestamp") is not None]
    return {
        "oom_kills_since_boot": (facts.get("vmstat") or {}).get("oom_kill"),
        "oom_kills_24h": sum(1 for t in stamps if now - t <= DAY_S) if known else None,
        "oom_kills_7d": sum(1 for t in stamps if now - t <= WEEK_S) if known else None,
        "victims": [_victim(e) for e in reversed(events) if e.get("victim") and e["victim"].get("pid") is not None][:MAX_VICTIMS],
        "kill_times": [_iso(t) for t in sorted(stamps) if now - t <= WEEK_S],
    }


def memory_facts(facts):
    """RAM, swap, zram and commit figures in bytes."""
    memory = facts.get("memory") or {}
    zram = facts.get("zram") or []
    swap_total, swap_free = memory.get("swap_total_kb"), memory.get("swap_free_kb")
    zram_data = [device.get("orig_data_kb") for device in zram]
    if zram and all(kb is not None for kb in zram_data):
        zram_used = sum(zram_data)
    else:
        zram_used = sum(int(swap.get("used_kb") or 0) for swap in facts.get("swap") or [] if swap.get("zram"))
    available = memory.get("mem_available_percent")
    return {
        "ram_bytes": _kb_bytes(memory.get("mem_total_kb")),
        "mem_available_bytes": _kb_bytes(memory.get("mem_available_kb")),
        "mem_available_percent": None if available is None else float(available),
        "swap_total_bytes": _kb_bytes(swap_total),
        "swap_used_bytes": None if swap_total is None or swap_free is None else (int(swap_total) - int(swap_free)) * 1024,
        "zram_total_bytes": sum(int(device.get("disksize_kb") or 0) for device in zram) * 1024,
        "zram_used_bytes": int(zram_used) * 1024,
        "commit_limit_bytes": _kb_bytes(memory.get("commit_limit_kb")),
        "committed_as_bytes": _kb_bytes(memory.get("committed_as_kb")),
    }


def psi_facts(facts):
    psi = facts.get("psi") or {}
    values = psi.get("memory") if psi.get("available") else None
    if not values or not values.get("some"):
        return None
    full = values.get("full") or {}
    return {"some_avg10": float(values["some"]["avg10"]), "some_avg60": float(values["some"]["avg60"]),
            "full_avg10": float(full.get("avg10") or 0.0), "full_avg60": float(full.get("avg60") or 0.0)}


def empty_board(name, reachable, reason):
    """A board whose facts were not collected: every figure unknown."""
    board = {"name": name, "reachable": reachable, "reason": reason}
    board.update(dict.fromkeys(("ram_bytes", "mem_available_bytes", "mem_available_percent", "swap_total_bytes",
                                "swap_used_bytes", "zram_total_bytes", "zram_used_bytes", "psi", "commit_limit_bytes",
                                "committed_as_bytes", "oom_kills_since_boot", "oom_kills_24h", "oom_kills_7d",
                                "warn_bytes", "critical_bytes")))
    board.update(victims=[], kill_times=[], monitor={"state": "absent", "level": None, "status": None, "last_action": None},
                 killers=[], drift=[])
    return board


def monitor_entry(monitor):
    """The report's monitor from oom_facts' (plugins/module_utils/oom_killers.py monitor_facts)."""
    actions = monitor.get("actions") or {}
    status = "; ".join(([to_text(monitor["status"])] if monitor.get("status") else []) + (
        ["actions since start: " + ", ".join("%s %d" % (to_text(k), int(n)) for k, n in sorted(actions.items()))]
        if isinstance(actions, Mapping) and actions else [])) or None
    last, last_action = monitor.get("last_action"), None
    if isinstance(last, Mapping) and last.get("action") and isinstance(last.get("time"), (int, float)):
        last_action = {"action": to_text(last["action"]), "target": _text_or_none(last.get("target")), "time": _iso(last["time"])}
    return {"state": monitor.get("state") or "absent", "level": monitor.get("level"), "status": status,
            "last_action": last_action}


def board_entry(name, host_vars, now):
    """One board of the report from its hostvars, or None when it was not part of the run."""
    reach = host_vars.get(REACH_VAR)
    if not isinstance(reach, Mapping):
        return None
    if reach.get("unreachable") or reach.get("failed"):
        message = to_text(reach.get("msg") or "").strip() or ("unreachable" if reach.get("unreachable") else "failed")
        return empty_board(name, not reach.get("unreachable"), message)
    result = host_vars.get(FACTS_VAR)
    facts = ((result or {}).get("ansible_facts") or {}).get("rock5b_oom") if isinstance(result, Mapping) else None
    drift = host_vars.get(DRIFT_VAR)
    if not facts or result.get("failed") or not isinstance(drift, (list, tuple)):
        return empty_board(name, True, to_text((result or {}).get("msg") or "") or NOT_FINISHED)
    monitor = facts.get("monitor") or {}
    board = {"name": name, "reachable": True, "reason": None}
    board.update(memory_facts(facts))
    board["psi"] = psi_facts(facts)
    board.update(kill_facts(facts, now))
    board.update(
        monitor=monitor_entry(monitor),
        killers=[to_text(k) for k in facts.get("killers") or []],
        warn_bytes=monitor.get("warn_bytes"), critical_bytes=monitor.get("critical_bytes"),
        drift=[to_text(finding) for finding in drift],
    )
    return board


def summarize(boards):
    killers = {}
    for board in boards:
        for name in board["killers"]:
            killers[name] = killers.get(name, 0) + 1
    return {
        "boards": len(boards),
        "drifted": sum(1 for b in boards if b["drift"]),
        "unreachable": sum(1 for b in boards if not b["reachable"]),
        # The page's one rule of a board in trouble (report_page.board_problems) decides it here too.
        "under_pressure": sum(1 for b in boards if b["reason"] is None and set(report_page.board_problems(b)) & PRESSURE),
        "oom_kills_24h": sum(b["oom_kills_24h"] or 0 for b in boards),
        "oom_kills_7d": sum(b["oom_kills_7d"] or 0 for b in boards),
        "without_psi": sum(1 for b in boards if b["reason"] is None and b["psi"] is None),
        "killers": killers,
    }


def build_report(hosts, hostvars, now, inventory, collection_version):
    """The report (see the module docstring) of ``hosts`` from ``hostvars`` at ``now`` (epoch seconds)."""
    boards = []
    for name in sorted(set(to_text(host) for host in hosts)):
        board = board_entry(name, hostvars[name] if name in hostvars else {}, now)
        if board is not None:
            boards.append(board)
    report = {"generated": _iso(now), "inventory": inventory, "collection_version": collection_version,
              "boards": boards, "summary": summarize(boards)}
    return json.loads(json.dumps(report))  # plain types only, whatever hostvars wrapped the values in


def collection_version(root=COLLECTION_ROOT):
    """The version in galaxy.yml (a source tree) or MANIFEST.json (an installed collection), or None."""
    manifest = os.path.join(root, "MANIFEST.json")
    if os.path.isfile(manifest):
        with open(manifest) as handle:
            return (json.load(handle).get("collection_info") or {}).get("version")
    galaxy = os.path.join(root, "galaxy.yml")
    if os.path.isfile(galaxy):
        with open(galaxy) as handle:
            for line in handle:
                if line.startswith("version:"):
                    return line.partition(":")[2].strip().strip("'\"") or None
    return None


def write_text(path, text):
    """Write ``text`` to ``path`` whole or not at all (temp file, fsync, rename)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(directory, report):
    """Render the page, then write report.json and index.html into ``directory``; their paths."""
    page = report_page.render(report)
    os.makedirs(directory, exist_ok=True)
    paths = os.path.join(directory, REPORT_JSON), os.path.join(directory, REPORT_HTML)
    write_text(paths[0], json.dumps(report, indent=2, sort_keys=True) + "\n")
    write_text(paths[1], page)
    return paths


class ActionModule(ActionBase):
    """See plugins/modules/fleet_report.py for the options."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "hosts", "validate_only"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self._task.args
        dest = args.get("dest")
        problem = report_dir_problem(dest)
        if problem:
            raise AnsibleActionFail(problem)
        directory = os.path.abspath(dest)
        result.update(changed=False, report_dir=directory)
        if boolean(args.get("validate_only", False), strict=True):
            return result
        hosts = args.get("hosts")
        if not isinstance(hosts, (list, tuple)):
            raise AnsibleActionFail("hosts must be a list of inventory host names")
        sources = task_vars.get("ansible_inventory_sources") or []
        inventory = ", ".join(to_text(s) for s in (sources if isinstance(sources, (list, tuple)) else [sources]))
        report = build_report(hosts, task_vars.get("hostvars") or {}, datetime.datetime.now(datetime.timezone.utc).timestamp(),
                              inventory, collection_version())
        json_path, html_path = write_report(directory, report)
        result.update(changed=True, json=json_path, html=html_path, summary=report["summary"])
        return result
