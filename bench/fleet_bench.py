#!/usr/bin/env python3
"""Fleet benchmark of rock5b.oom: wall time and module executions per board of a no-op
(already converged) run of playbooks/site.yml versus the naive baseline (bench/naive_site.yml),
over SSH without and with pipelining and with mitogen, on 1, 5 and 25 boards.

Run it through bench/fleet_bench.sh (environment, mitogen, images). Sub-commands:
  run    [--reps 3] [--sizes 1,5,25] [--no-arm64] [--naive bench/naive_seed_only.yml]   the whole table
  count  [--arch arm64|amd64] [--extra-roles r1,r2]    module executions per board and per task
  floor  [--reps 5] [--sizes 1,5,25] [--modes pipelining]   an empty play and one ping per board
         beside site.yml and the naive playbook: what no converge can go below
  down                                                  remove the bench boards

Boards: bench-board-N (arm64 lab image, qemu-user) on 127.0.0.1:2300+N and bench-amd64-N
(native amd64 variant, bench/build_amd64_image.sh) on 127.0.0.1:2330+N, label rock5b-oom-bench=1.
The playbooks run from a clean export of the repository's HEAD (.cache/bench/snapshot-<commit>), not
from the working tree, so uncommitted edits (the monitor's program, say) neither show up as a
change in a "no-op" run nor go unrecorded: every result names its commit (--worktree: measure
the working tree instead).

Each sample records wall time, the 1-minute load average when it started, the controller's CPU
time (ansible-playbook and its workers) and the boards' (their containers' cpuacct). Samples are
interleaved: for every repetition and connection mode, site.yml and the naive playbook run back
to back, in alternating order, so a load change on this shared host hits both sides alike.
Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import resource
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = ROOT / ".cache" / "bench"
LABEL = "rock5b-oom-bench"
IMAGES = {
    "arm64": os.environ.get("BENCH_IMAGE_ARM64", "localhost/rock5b-board:latest"),
    "amd64": os.environ.get("BENCH_IMAGE_AMD64", "localhost/rock5b-board-amd64:latest"),
}
NAMES = {"arm64": ("bench-board-%d", 2300), "amd64": ("bench-amd64-%d", 2330)}
KEY = Path(os.environ.get("ROCK5B_CACHE", "/var/cache/rock5b-oom")) / "ssh" / "id_ed25519"
# Units masked in bench boards (bind-mounting /dev/null over the unit file): each takes an
# inotify instance, and fs.inotify.max_user_instances (128 here) is one budget for every
# container's root, so with them 25 boards need 150. Nothing the roles or the naive playbook
# touch: the ask-password path units serve consoles, and logind no sessions (the image has no
# pam_systemd). Without them a board takes 3 (systemd 2, dbus 1).
MASKED_UNITS = ("systemd-ask-password-console.path", "systemd-ask-password-wall.path",
                "systemd-logind.service")
INOTIFY_PER_BOARD = 3
# Where the playbooks run from (set by main(): a snapshot of HEAD, or the working tree).
SRC = {"root": ROOT, "commit": None}


def log(msg):
    print("[bench] %s" % msg, file=sys.stderr, flush=True)


# --- boards ---------------------------------------------------------------------------------
def board(arch, n):
    fmt, base = NAMES[arch]
    return fmt % n, base + n


def image_ref(arch):
    out = subprocess.run(["podman", "image", "inspect", "-f", "{{.Id}}", IMAGES[arch]],
                         capture_output=True, text=True, check=True).stdout.strip()
    tags = subprocess.run(["podman", "image", "inspect", "-f", "{{range .RepoTags}}{{.}} {{end}}",
                           IMAGES[arch]], capture_output=True, text=True, check=True).stdout.split()
    hashed = [t for t in tags if not t.endswith(":latest")]
    return (hashed[0] if hashed else IMAGES[arch]) + " (id %s)" % out[:12]


def inotify_in_use():
    """inotify instances open on this host (every process's fds), and the per-user limit."""
    used = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            used += sum(1 for fd in fd_dir.iterdir() if os.readlink(fd) == "anon_inode:inotify")
        except OSError:
            continue
    return used, int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())


def start_boards(arch, count):
    names = []
    missing = [n for n in range(1, count + 1) if subprocess.run(
        ["podman", "container", "inspect", "-f", "{{.State.Running}}", board(arch, n)[0]],
        capture_output=True, text=True).stdout.strip() != "true"]
    used, limit = inotify_in_use()
    if used + INOTIFY_PER_BOARD * len(missing) > limit:
        log("warning: %d more boards need ~%d inotify instances; %d of fs.inotify.max_user_instances=%d are in "
            "use (other containers?): boards may fail to start" % (len(missing), INOTIFY_PER_BOARD * len(missing),
                                                                  used, limit))
    for n in range(1, count + 1):
        name, port = board(arch, n)
        names.append((name, port))
        running = subprocess.run(["podman", "container", "inspect", "-f", "{{.State.Running}}", name],
                                 capture_output=True, text=True).stdout.strip()
        if running == "true":
            continue
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)
        # The lab's podman options (tools/lab.sh start_board); never --privileged.
        masks = [arg for unit in MASKED_UNITS for arg in ("-v", "/dev/null:/etc/systemd/system/%s:ro" % unit)]
        subprocess.run(["podman", "run", "-d", "--name", name, "--hostname", name,
                        "--label", LABEL + "=1", "--systemd=always", "--stop-signal=39",
                        "--stop-timeout=20", "-p", "127.0.0.1:%d:22" % port, *masks, IMAGES[arch],
                        "/sbin/init"], check=True, capture_output=True)
        log("started %s (%s) on 127.0.0.1:%d" % (name, arch, port))
    deadline = time.monotonic() + 300
    for name, port in names:
        while subprocess.run(["ssh", "-q", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                              "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                              "-i", str(KEY), "-p", str(port), "root@127.0.0.1", "true"]).returncode:
            if time.monotonic() > deadline:
                sys.exit("%s: no SSH after 300 s (many systemd containers: check "
                         "fs.inotify.max_user_instances, each board's systemd takes several)" % name)
            time.sleep(2)
    return names


def down():
    ids = subprocess.run(["podman", "ps", "-a", "-q", "--filter", "label=%s=1" % LABEL],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "rm", "-f", "-t", "5"] + ids, capture_output=True)
    log("removed %d bench boards" % len(ids))


def inventory(arch, boards):
    """An inventory dir with the lab's group_vars (linked, from the measured source) plus the
    bench's own settings."""
    d = WORK / ("inv-%s-%d" % (arch, len(boards)))
    gv = d / "group_vars" / "rock5b"
    gv.mkdir(parents=True, exist_ok=True)
    lab = gv / "lab.yml"
    lab.unlink(missing_ok=True)
    lab.symlink_to(SRC["root"] / "inventory/lab/group_vars/rock5b.yml")
    (gv / "bench.yml").write_text(
        "---\n# Written by bench/fleet_bench.py.\n"
        "# The boards share this host's kernel: its Committed_AS says nothing about a board, and\n"
        "# a container's /proc/sys is read-only, so the live apply is skipped anyway.\n"
        "sysctl_profile_overcommit_check: false\n"
        "# The naive baseline in containers: file only, refused oom_score_adj not fatal.\n"
        "naive_live: false\n")
    hosts = "".join("    %s:\n      ansible_port: %d\n" % (n, p) for n, p in boards)
    (d / "hosts.yml").write_text("---\nrock5b:\n  hosts:\n" + hosts)
    return d


# --- runs -----------------------------------------------------------------------------------
def snapshot():
    """A clean export of HEAD with its own collections path (rock5b.oom -> the export, the
    other collections from the repository's .cache/collections); reused per commit."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    dest = WORK / ("snapshot-%s" % commit[:12])
    if not (dest / ".complete").exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        ns = dest / ".cache" / "collections" / "ansible_collections"
        for coll in (ROOT / ".cache" / "collections" / "ansible_collections").glob("*/*"):
            (ns / coll.parent.name).mkdir(parents=True, exist_ok=True)
            target = dest if (coll.parent.name, coll.name) == ("rock5b", "oom") else coll.resolve()
            (ns / coll.parent.name / coll.name).symlink_to(target)
        (dest / ".complete").write_text(commit + "\n")
    for old in WORK.glob("snapshot-*"):
        if old != dest:
            shutil.rmtree(old, ignore_errors=True)
    return dest, commit


NAIVE = {"path": "bench/naive_site.yml"}   # --naive: the baseline, relative to the repository


def playbook_path(name):
    return SRC["root"] / ("playbooks/site.yml" if name == "site" else NAIVE["path"])


def mitogen_strategy_dir():
    import ansible_mitogen  # noqa: F401 - installed by fleet_bench.sh from bench/requirements.txt
    return str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy")


def env_for(mode):
    env = dict(os.environ)
    root = SRC["root"]
    env.update({
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(root / ".cache" / "collections"),
        "ANSIBLE_ROLES_PATH": str(root / "roles"),
        "ANSIBLE_CALLBACK_PLUGINS": str(BENCH / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "rock5b_bench_count",
        "ANSIBLE_PIPELINING": "False" if mode == "ssh" else "True",
        # Every run pays its own SSH handshakes, as a fleet run from cron does.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": tempfile.mkdtemp(prefix="cp-", dir="/tmp"),
    })
    env.pop("ANSIBLE_STRATEGY", None)
    if mode == "mitogen":
        env["ANSIBLE_STRATEGY_PLUGINS"] = mitogen_strategy_dir()
        env["ANSIBLE_STRATEGY"] = "mitogen_linear"
    return env


CPU_FILES = {}


def board_cpu_seconds(names):
    """CPU time the boards' containers used so far (cgroup v1 cpuacct or v2 cpu.stat). The files
    are found once per board: podman calls between samples would load the host themselves."""
    total = 0.0
    for name in names:
        if name not in CPU_FILES:
            cid = subprocess.run(["podman", "container", "inspect", "-f", "{{.Id}}", name], capture_output=True,
                                 text=True).stdout.strip()
            found = list(Path("/sys/fs/cgroup").glob("cpuacct/**/libpod-%s*/cpuacct.usage" % cid))
            found = found or list(Path("/sys/fs/cgroup").glob("**/libpod-%s*/cpu.stat" % cid))
            CPU_FILES[name] = found[0] if found else None
        path = CPU_FILES[name]
        try:
            text = path.read_text() if path else ""
        except OSError:
            CPU_FILES.pop(name)
            continue
        if path and path.name == "cpuacct.usage":
            total += int(text) / 1e9
        elif text:
            total += int(text.split()[1]) / 1e6
    return total


def play(playbook, inv, mode, extra=(), boards=()):
    env = env_for(mode)
    fd, out = tempfile.mkstemp(prefix="count-", suffix=".json", dir=WORK)
    os.close(fd)
    env["ROCK5B_BENCH_COUNT_OUT"] = out
    load = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    board0 = board_cpu_seconds([b[0] for b in boards])
    t0 = time.monotonic()
    p = subprocess.run(["ansible-playbook", "-i", str(inv), str(playbook), *extra],
                       env=env, capture_output=True, text=True, cwd=SRC["root"])
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    board_cpu = board_cpu_seconds([b[0] for b in boards]) - board0
    shutil.rmtree(env["ANSIBLE_SSH_CONTROL_PATH_DIR"], ignore_errors=True)
    try:
        counts = json.loads(Path(out).read_text())
    except (OSError, ValueError):
        counts = {"hosts": {}}
    Path(out).unlink(missing_ok=True)
    if p.returncode:
        log("FAILED (%d): ansible-playbook %s (%s)\n%s" % (p.returncode, playbook.name, mode,
                                                           p.stdout[-3000:] + p.stderr[-2000:]))
    hosts = counts.get("hosts", {})
    changed = sum(h["statuses"].get("changed", 0) for h in hosts.values())
    execs = [h["module_executions"] for h in hosts.values()] or [0]
    remote = [h["remote_modules"] for h in hosts.values()] or [0]
    controller = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"wall": wall, "rc": p.returncode, "changed": changed, "execs": max(execs),
            "remote_modules": max(remote), "counts": counts, "stdout": p.stdout, "load": load,
            "controller_cpu": controller, "board_cpu": board_cpu}


def harden_roles():
    text = (SRC["root"] / "playbooks" / "tasks" / "harden.yml").read_text()
    return re.findall(r"name:\s*(rock5b\.oom\.\w+)", text)


def measure(rows, arch, boards, modes, reps):
    """site.yml and the naive playbook on the same boards, interleaved (see the docstring)."""
    inv = inventory(arch, boards)
    for name in ("site", "naive"):
        log("%s on %d %s board(s): converging once (not timed)" % (name, len(boards), arch))
        if play(playbook_path(name), inv, "pipelining")["rc"]:
            log("warm-up failed; skipping")
            return
    samples = dict(((name, mode), []) for name in ("site", "naive") for mode in modes)
    for rep in range(reps):
        for mode in modes:
            order = ("site", "naive") if (rep + modes.index(mode)) % 2 == 0 else ("naive", "site")
            for name in order:
                r = play(playbook_path(name), inv, mode, boards=boards)
                samples[(name, mode)].append(r)
                log("  %-5s %-10s rep %d: %5.1f s (load %4.1f, controller cpu %4.1f s, boards cpu %4.1f s), "
                    "%d executions/board, changed=%d, rc=%d"
                    % (name, mode, rep + 1, r["wall"], r["load"], r["controller_cpu"], r["board_cpu"], r["execs"],
                       r["changed"], r["rc"]))
    for (name, mode), s in samples.items():
        rows.append({
            "playbook": name, "mode": mode, "arch": arch, "boards": len(boards),
            "image": image_ref(arch), "commit": SRC["commit"], "runs": len(s),
            "median_wall": statistics.median(x["wall"] for x in s),
            "walls": [round(x["wall"], 2) for x in s],
            "loads": [round(x["load"], 1) for x in s],
            "median_controller_cpu": statistics.median(x["controller_cpu"] for x in s),
            "median_board_cpu": statistics.median(x["board_cpu"] for x in s),
            "ratios": [],
            "execs_per_board": s[-1]["execs"], "remote_modules_per_board": s[-1]["remote_modules"],
            "changed_per_run": s[-1]["changed"], "failed_runs": sum(1 for x in s if x["rc"]),
        })
    # Per repetition, site / naive of the same (back-to-back) pair: their spread shows the noise.
    for mode in modes:
        site = next(r for r in rows[::-1] if r["playbook"] == "site" and r["mode"] == mode)
        site["ratios"] = [round(a["wall"] / b["wall"], 2) for a, b in zip(samples[("site", mode)],
                                                                            samples[("naive", mode)])]


def print_table(rows, out=sys.stdout):
    base = {(r["arch"], r["boards"], r["mode"]): r["median_wall"] for r in rows if r["playbook"] == "naive"}
    head = ("| playbook | connection | arch | boards | runs | median wall s | × naive (medians) | "
            "× naive per pair | load (1 min) | controller CPU s | boards CPU s | "
            "module executions/board | remote modules/board | changed/run |")
    print(head, file=out)
    print("|---" * (head.count("|") - 1) + "|", file=out)
    order = sorted(rows, key=lambda r: (r["arch"] != "arm64", r["boards"], ("ssh", "pipelining", "mitogen").index(
        r["mode"]), r["playbook"] != "site"))
    for r in order:
        ratio = base.get((r["arch"], r["boards"], r["mode"]))
        site = r["playbook"] == "site"
        print("| %s | %s | %s | %d | %d%s | %.2f | %s | %s | %s | %.1f | %.1f | %d | %s | %d |" % (
            "site.yml" if site else Path(NAIVE["path"]).name, r["mode"], r["arch"], r["boards"], r["runs"],
            " (%d failed)" % r["failed_runs"] if r["failed_runs"] else "", r["median_wall"],
            "**%.2f**" % (r["median_wall"] / ratio) if ratio and site else "",
            " ".join("%.2f" % x for x in r.get("ratios", [])) if site else "",
            "%.1f–%.1f" % (min(r["loads"]), max(r["loads"])) if r.get("loads") else "",
            r.get("median_controller_cpu", 0), r.get("median_board_cpu", 0),
            r["execs_per_board"], "—" if r["mode"] == "mitogen" else str(r["remote_modules_per_board"]),
            r["changed_per_run"]), file=out)
    images = sorted(set("%s: %s" % (r["arch"], r["image"]) for r in rows))
    print("\nimages: %s; commit %s" % ("; ".join(images), rows[0]["commit"] if rows else "?"), file=out)


def cmd_run(args):
    WORK.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in args.sizes.split(",")]
    modes = ["ssh", "pipelining", "mitogen"]
    rows = []
    log("commit %s; roles in playbooks/tasks/harden.yml: %s" % (SRC["commit"], ", ".join(harden_roles())))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    res = WORK / ("results-%s.json" % stamp)

    def save():  # after every measurement: a long run that dies keeps what it measured
        res.write_text(json.dumps({"commit": SRC["commit"], "roles": harden_roles(), "rows": rows}, indent=2))

    if not args.no_arm64:
        boards = start_boards("arm64", 1)
        measure(rows, "arm64", boards, ["pipelining", "mitogen"], args.reps)
        save()
    all_amd64 = start_boards("amd64", max(sizes))
    for n in sizes:
        # The full comparison at the middle size, the recommended settings at the others.
        measure(rows, "amd64", all_amd64[:n], modes if n == args.compare_size else ["pipelining", "mitogen"],
                args.reps)
        save()
    with open(WORK / ("table-%s.md" % stamp), "w", encoding="utf-8") as f:
        print_table(rows, f)
    print("\nroles in playbooks/tasks/harden.yml: %s" % ", ".join(harden_roles()))
    print_table(rows)
    print("\nresults: %s" % res)
    if not args.keep:
        down()


def cmd_count(args):
    WORK.mkdir(parents=True, exist_ok=True)
    boards = start_boards(args.arch, 1)
    inv = inventory(args.arch, boards)
    playbook = playbook_path("site")
    if args.extra_roles:
        # Preview: site.yml plus roles not yet in harden.yml (e.g. ones being written).
        extra = [r for r in args.extra_roles.split(",") if "rock5b.oom." + r not in harden_roles()]
        text = playbook.read_text().replace("tasks/harden.yml", str(SRC["root"] / "playbooks/tasks/harden.yml"))
        text += "".join("\n    - name: Preview role %s\n      ansible.builtin.import_role:\n"
                        "        name: rock5b.oom.%s\n" % (r, r) for r in extra)
        playbook = WORK / "site-preview.yml"
        playbook.write_text(text)
    log("converging once (%s)" % playbook.name)
    play(playbook, inv, "pipelining")
    r = play(playbook, inv, "pipelining")
    h = next(iter(r["counts"]["hosts"].values()), None)
    if h is None:
        sys.exit("no result (rc=%d)\n%s" % (r["rc"], r["stdout"][-3000:]))
    print("commit %s; roles in playbooks/tasks/harden.yml: %s%s" % (SRC["commit"], ", ".join(harden_roles()),
          " + preview: %s" % args.extra_roles if args.extra_roles else ""))
    print("no-op run of %s on one %s board: %d module executions/board (target <= 10), "
          "%d remote module calls, changed=%d, %.1f s"
          % (playbook.name, args.arch, h["module_executions"], h["remote_modules"], r["changed"], r["wall"]))
    print("%-4s %-7s %s" % ("exec", "remote", "task"))
    for task, n in h["per_task"].items():
        mods = h["remote_modules_per_task"].get(task, [])
        print("%-4d %-7s %s" % (n, "%d %s" % (len(mods), "+".join(sorted(set(mods)))), task))
    if not args.keep:
        down()
    return 0 if h["module_executions"] <= 10 else 1


FLOOR_PLAYS = {
    # ansible-playbook's own cost: start, parse, inventory; connects to nothing.
    "empty": "tasks: []\n",
    # The least any converge can do: connect to each board and run one module there.
    "ping": "tasks:\n    - name: One module execution per board\n      ansible.builtin.ping:\n",
}


def cmd_floor(args):
    """What no playbook can go below, beside site.yml and the naive one, interleaved."""
    WORK.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in args.sizes.split(",")]
    plays = {}
    for name, body in FLOOR_PLAYS.items():
        plays[name] = WORK / ("floor-%s.yml" % name)
        plays[name].write_text("---\n- name: Floor (%s)\n  hosts: rock5b\n  gather_facts: false\n  %s" % (name, body))
    plays["site"], plays["naive"] = playbook_path("site"), playbook_path("naive")
    all_boards = start_boards("amd64", max(sizes))
    rows = []
    for n in sizes:
        boards = all_boards[:n]
        inv = inventory("amd64", boards)
        for name in ("site", "naive"):
            play(plays[name], inv, "pipelining")
        for mode in args.modes.split(","):
            samples = dict((name, []) for name in plays)
            for rep in range(args.reps):
                names = list(plays)
                names = names[rep % len(names):] + names[:rep % len(names)]  # rotate the order
                for name in names:
                    r = play(plays[name], inv, mode, boards=boards)
                    samples[name].append(r)
                    log("  %d boards %-10s %-5s rep %d: %5.1f s (load %4.1f)" % (n, mode, name, rep + 1, r["wall"],
                                                                              r["load"]))
            naive = statistics.median(x["wall"] for x in samples["naive"])
            for name, s in samples.items():
                rows.append((n, mode, name, statistics.median(x["wall"] for x in s), naive,
                             statistics.median(x["controller_cpu"] for x in s),
                             statistics.median(x["board_cpu"] for x in s), min(x["load"] for x in s),
                             max(x["load"] for x in s), s[-1]["execs"]))
    head = ("| boards | connection | playbook | median wall s | × naive | controller CPU s | boards CPU s | "
            "load (1 min) | module executions/board |")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for n, mode, name, wall, naive, ccpu, bcpu, lo, hi, execs in rows:
        print("| %d | %s | %s | %.2f | %.2f | %.1f | %.1f | %.1f–%.1f | %d |" % (
            n, mode, {"site": "site.yml", "naive": Path(NAIVE["path"]).name}.get(name, "floor: " + name), wall,
            wall / naive, ccpu, bcpu, lo, hi, execs))
    print("\ncommit %s, image %s" % (SRC["commit"], image_ref("amd64")))
    if not args.keep:
        down()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--reps", type=int, default=3)
    r.add_argument("--sizes", default="1,5,25", help="amd64 fleet sizes")
    r.add_argument("--compare-size", type=int, default=5)
    r.add_argument("--no-arm64", action="store_true")
    r.add_argument("--keep", action="store_true", help="leave the boards running")
    r.add_argument("--worktree", action="store_true", help="run the working tree, not a snapshot of HEAD")
    r.add_argument("--naive", default=NAIVE["path"], help="the baseline playbook, relative to the repository "
                   "(bench/naive_seed_only.yml: the first, smaller one)")
    c = sub.add_parser("count")
    c.add_argument("--arch", choices=("arm64", "amd64"), default="arm64")
    c.add_argument("--extra-roles", default="")
    c.add_argument("--keep", action="store_true")
    c.add_argument("--worktree", action="store_true", help="run the working tree, not a snapshot of HEAD")
    f = sub.add_parser("floor", help="empty play and one ping per board beside site.yml and naive")
    f.add_argument("--reps", type=int, default=5)
    f.add_argument("--sizes", default="1,5,25")
    f.add_argument("--modes", default="pipelining")
    f.add_argument("--keep", action="store_true")
    f.add_argument("--worktree", action="store_true", help="run the working tree, not a snapshot of HEAD")
    f.add_argument("--naive", default=NAIVE["path"], help="the baseline playbook, relative to the repository "
                   "(bench/naive_seed_only.yml: the first, smaller one)")
    sub.add_parser("down")
    args = ap.parse_args()
    if args.cmd in ("run", "floor"):
        NAIVE["path"] = args.naive
    if args.cmd in ("run", "count", "floor"):
        WORK.mkdir(parents=True, exist_ok=True)
        if args.worktree:
            SRC["commit"] = "working tree"
        else:
            SRC["root"], SRC["commit"] = snapshot()
            log("running the playbooks from %s (HEAD %s)" % (SRC["root"], SRC["commit"][:12]))
    if args.cmd == "run":
        cmd_run(args)
    elif args.cmd == "count":
        sys.exit(cmd_count(args))
    elif args.cmd == "floor":
        cmd_floor(args)
    else:
        down()


if __name__ == "__main__":
    main()
