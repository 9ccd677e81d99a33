"""Real-kernel fault tests (issue #20): power cuts, a full disk and a read-only root, each on
one bookworm arm64 VM (tools/vm, cgroup v2) driven over SSH with ansible-playbook.

Run by tools/fault/test.sh (`make fault-test`) after `source tools/env.sh`. Prints one table:
fault x repetitions x outcome, and exits 1 when any repetition failed.

* power cut: the VM's disk honours flushes (VM_DRIVE_CACHE=writeback); site.yml runs towards
  profile B (odd cuts) or A (even cuts), qemu gets SIGKILL at a random moment of the run
  (seeded: FAULT_SEED), the VM boots again on the same overlay (VM_KEEP_OVERLAY=1). Then every
  managed file must be byte for byte its version of A or of B (the boot files: the original or
  the edited one), the board must boot (SSH, systemd not failed because of our units), and
  site.yml towards the same profile must converge, then change nothing.
* full disk: the root file system (it holds /etc) filled up to the last block, /tmp a tmpfs;
  site.yml B must fail naming a file and the space, leave every file as it was, the monitor running.
* read-only root: /etc and /usr read-only bind mounts; site.yml B fails with "read-only ...: cannot persist",
  each role says so (harden.yml imported with ignore_errors), the sysctls and oom_score_adj
  values are applied live, the audit reports the board drifted (not persisted).

Env: FAULT_POWER_CUTS (5), FAULT_SEED (random, printed), FAULT_VM (fault-vm), FAULT_KEEP=1
(leave the VM up at the end).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(os.environ.get("ROCK5B_ROOT", Path(__file__).resolve().parents[2]))
HERE = Path(__file__).resolve().parent
VM_TOOLS = ROOT / "tools" / "vm"
CACHE = Path(os.environ.get("ROCK5B_CACHE", "/var/cache/rock5b-oom"))
VM = os.environ.get("FAULT_VM", "fault-vm")
RUN_DIR = CACHE / "vm" / "run" / VM
PROFILE = {"A": HERE / "profile_a.yml", "B": HERE / "profile_b.yml"}
SITE = ROOT / "playbooks" / "site.yml"
AUDIT = ROOT / "playbooks" / "audit.yml"
EACH_ROLE = HERE / "each_role.yml"

# Boot files psi_boot edits: /boot is a FAT image loop-mounted (fstab), like a board's boot
# partition, so hostfs's FAT sequence is what writes armbianEnv.txt; /etc/kernel/cmdline is on ext4.
BOOT_FILES = {
    "/boot/armbianEnv.txt": "verbosity=1\nbootlogo=false\nconsole=both\nextraargs=cma=256M\n"
                            "fdtfile=rockchip/rk3588-rock-5b-plus.dtb\nrootfstype=ext4\n",
    "/etc/kernel/cmdline": "root=/dev/vda rw quiet cma=256M\n",
}
# Every file the collection manages on this board (directories are walked).
MANAGED = ["/etc/sysctl.d/99-oom-rock5b.conf", "/etc/systemd/system/rock5b-untrusted.slice.d",
           "/etc/systemd/system/rock5b-oom-monitor.service", "/etc/systemd/system/rock5b-oom-monitor.service.d",
           "/etc/systemd/system/ssh.service.d", "/etc/rock5b-oom", "/usr/lib/rock5b-oom",
           "/usr/local/sbin/rock5b-oom-monitor"] + list(BOOT_FILES)
OUR_UNITS = ("rock5b-oom-monitor.service", "rock5b-untrusted.slice", "systemd-sysctl.service")


def log(*words):
    print("[fault %s] %s" % (time.strftime("%H:%M:%S"), " ".join(str(word) for word in words)), flush=True)


# --- the VM -----------------------------------------------------------------------------------------

def state():
    values = {}
    for line in (RUN_DIR / "state").read_text().splitlines():
        key, _sep, value = line.partition("=")
        values[key] = value
    return values


def boot(resume=False):
    env = dict(os.environ, VM_DRIVE_CACHE="writeback", VM_KEEP_OVERLAY="1" if resume else "0",
               VM_BOOT_TIMEOUT="240")
    started = time.monotonic()
    done = subprocess.run([str(VM_TOOLS / "boot.sh"), VM, "v2"], env=env, check=False)
    return done.returncode == 0, time.monotonic() - started


def ssh(command, check=True, timeout=120):
    done = subprocess.run([str(VM_TOOLS / "ssh.sh"), VM, command], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError("on %s: %s: rc %d %s" % (VM, command, done.returncode, done.stderr.strip()))
    return done.stdout


def power_cut():
    pid = int(state()["VM_PID"])
    os.kill(pid, signal.SIGKILL)
    for _attempt in range(100):
        if not Path("/proc/%d" % pid).exists():
            return
        time.sleep(0.1)


def inventory():
    values = state()
    host = {"ansible_host": "127.0.0.1", "ansible_port": int(values["VM_SSH_PORT"]), "ansible_user": "root",
            "ansible_ssh_private_key_file": values["VM_SSH_KEY"], "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                       "-o LogLevel=ERROR -o IdentitiesOnly=yes -o ControlPath=none"}
    path = RUN_DIR / "fault-inventory.json"
    path.write_text(json.dumps({"all": {"children": {"rock5b": {"hosts": {VM: host}}}}}))
    return path


# --- ansible-playbook ---------------------------------------------------------------------------------

class Run:
    """One ansible-playbook run: rc, recap counts, changed tasks, failure messages, its output."""

    def __init__(self, playbook, profile, extra=(), kill_after=None):
        command = ["ansible-playbook", "-i", str(inventory()), "-e", "@%s" % PROFILE[profile]]
        command += list(extra) + [str(playbook)]
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines, self.cut_task, self.cut_at = [], None, None
        timer = None
        if kill_after is not None:
            def cut():
                self.cut_at = time.monotonic() - self.started
                self.cut_task = self.current_task()
                power_cut()
            timer = threading.Timer(kill_after, cut)
            timer.start()
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))
        self.rc = process.wait()
        if timer is not None:
            timer.cancel()
        self.seconds = time.monotonic() - self.started
        self.output = "\n".join(self.lines)
        recap = re.search(r"^%s\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(VM),
                          self.output, re.M)
        self.ok, self.changed, self.unreachable, self.failed = (int(x) for x in recap.groups()) if recap else (0, -1, 0, 0)

    def current_task(self):
        tasks = [line for line in self.lines if line.startswith(("TASK [", "RUNNING HANDLER ["))]
        return tasks[-1].split("[", 1)[1].rsplit("]", 1)[0] if tasks else "(before the first task)"

    def tasks(self, status):
        """Names of the tasks with a result line starting with ``status`` ("changed", "fatal")."""
        names, task = [], None
        for line in self.lines:
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith(status + ":") and task not in names:
                names.append(task)
        return names

    def messages(self):
        """The msg of every failed result. The json result format prints each result indented
        over several lines (ansible-core 2.19), closed by a "}" of its own."""
        found, pending = [], None
        for line in self.lines:
            if pending is not None:
                pending.append(line)
                if line == "}":
                    found.append(self._msg("\n".join(pending)))
                    pending = None
                continue
            match = re.match(r"^fatal: \[[^]]+\]: FAILED! => (\{.*)$", line)
            if match:
                if match.group(1).rstrip().endswith("}"):
                    found.append(self._msg(match.group(1)))
                else:
                    pending = [match.group(1)]
        return found

    @staticmethod
    def _msg(document):
        try:
            return json.loads(document).get("msg", "")
        except ValueError:
            return document


# --- the board's files ---------------------------------------------------------------------------------

HASH_SCRIPT = r"""
for p in %s; do
  if [ -d "$p" ]; then find "$p" -type f; elif [ -e "$p" ]; then echo "$p"; else echo "MISSING $p"; fi
done | while read -r f; do
  case $f in MISSING\ *) echo "$f";; *) printf '%%s %%s %%s\n' "$(sha256sum < "$f" | cut -c1-64)" "$(stat -c %%s "$f")" "$f";; esac
done
"""


def managed_files():
    """path -> (sha256, size), or None for a missing one; plus leftovers (temporary files, .new)."""
    out = ssh(HASH_SCRIPT % " ".join(shlex.quote(path) for path in MANAGED))
    files, leftovers = {}, []
    for line in out.splitlines():
        if line.startswith("MISSING "):
            files[line[8:]] = None
            continue
        digest, size, path = line.split(" ", 2)
        name = os.path.basename(path)
        if name.startswith(".") or name.endswith((".new", ".stale")) or re.search(r"\.\d+\.[\d@:-]+~$", name) \
                or name.endswith(".bak"):
            leftovers.append((path, digest, int(size)))
        else:
            files[path] = (digest, int(size))
    return files, leftovers


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def put_boot_files():
    script = "; ".join("printf %%s %s > %s" % (shlex.quote(text), shlex.quote(path)) for path, text in BOOT_FILES.items())
    ssh("set -e; %s; rm -f /boot/*.bak /boot/*.new /boot/*.stale /boot/*~ /etc/kernel/cmdline.*; sync" % script)


def fat16_image(size_mib=16):
    """A blank FAT16 file system (no mkfs.vfat needed on the host or in the VM)."""
    sectors, per_cluster, reserved, fats, root_entries, fat_sectors = size_mib * 2048, 4, 1, 2, 512, 32
    boot = bytearray(512)
    boot[0:3] = b"\xeb\x3c\x90"
    boot[3:11] = b"MSWIN4.1"
    struct.pack_into("<HBHBHHBHHHII", boot, 11, 512, per_cluster, reserved, fats, root_entries,
                     sectors if sectors < 65536 else 0, 0xF8, fat_sectors, 32, 64, 0, sectors if sectors >= 65536 else 0)
    struct.pack_into("<BBBI11s8s", boot, 36, 0x80, 0, 0x29, 0x20262020, b"NO NAME    ", b"FAT16   ")
    boot[510:512] = b"\x55\xaa"
    image = bytearray(sectors * 512)
    image[0:512] = boot
    for index in range(fats):
        start = (reserved + index * fat_sectors) * 512
        image[start:start + 4] = b"\xf8\xff\xff\xff"
    return bytes(image)


# A board checks its FAT boot partition at every boot (systemd-fsck, fstab pass 2): here a unit
# runs Debian's fsck.fat -a on the image before boot.mount (fstab's x-systemd.requires), and
# board_health() reports what it found. fsck.fat exits 1 when it repaired something.
FSCK_UNIT = """[Unit]
Description=fsck.fat -a of the boot partition image before it is mounted, as systemd-fsck on a board
DefaultDependencies=no
After=systemd-remount-fs.service
Before=boot.mount

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/fsck.fat -a -w /var/lib/boot-fat.img
SuccessExitStatus=1
"""


def scp_to_board(local, remote):
    values = state()
    subprocess.run(["scp", "-q", "-P", values["VM_SSH_PORT"], "-i", values["VM_SSH_KEY"], "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", str(local), "root@127.0.0.1:" + remote],
                   check=True)


def prepare_board():
    """The boot partition (FAT, in fstab so it is mounted again after a cut, checked by fsck.fat
    before) and the boot files."""
    deb = subprocess.run(["bash", str(VM_TOOLS / "fetch-deb.sh"), "dosfstools", "bookworm"], check=True,
                         capture_output=True, text=True).stdout.strip()
    scp_to_board(deb, "/root/dosfstools.deb")
    with tempfile.NamedTemporaryFile(suffix=".img") as image:
        image.write(fat16_image())
        image.flush()
        scp_to_board(image.name, "/var/lib/boot-fat.img")
    ssh("set -e; rm -rf /root/dosfstools && dpkg-deb -x /root/dosfstools.deb /root/dosfstools; "
        "install -m 0755 \"$(find /root/dosfstools -name fsck.fat -type f | head -n1)\" /usr/local/sbin/fsck.fat; "
        "printf %s " + shlex.quote(FSCK_UNIT) + " > /etc/systemd/system/boot-fat-fsck.service; "
        "mkdir -p /boot /etc/kernel; grep -q boot-fat /etc/fstab || "
        "echo '/var/lib/boot-fat.img /boot vfat loop,rw,x-systemd.requires=boot-fat-fsck.service 0 0' >> /etc/fstab; "
        "systemctl daemon-reload; mount /boot; [ \"$(stat -f -c %t /boot)\" = 4d44 ]; sync")
    put_boot_files()


def boot_fsck():
    """What the boot's fsck.fat found: "clean", "repaired: <its first findings>" or why unknown."""
    status = ssh("systemctl show -P ExecMainStatus boot-fat-fsck.service", check=False).strip()
    if status == "0":
        return "clean"
    found = ssh("journalctl -b -o cat -u boot-fat-fsck.service | grep -v -e '^fsck.fat [0-9]' -e '^Starting' "
                "-e '^Finished' -e 'Deactivated' | head -n 3", check=False).strip().replace("\n", "; ")
    return ("repaired: %s" % found[:160]) if status == "1" else "fsck.fat status %s: %s" % (status or "?", found[:160])


def board_health():
    """(booted, detail): SSH answers, systemd is up and none of our units failed."""
    try:
        status = ssh("timeout 90 systemctl is-system-running --wait; true", timeout=120).strip()
        failed = ssh("systemctl list-units --failed --plain --no-legend | awk '{print $1}'").split()
        fat = ssh("stat -f -c %t /boot; findmnt -n -o OPTIONS /boot | cut -d, -f1").split()
        kernel = ssh("dmesg | grep -E 'FAT-fs|EXT4-fs (error|warning)' | tail -3", check=False).strip()
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return False, "no SSH/systemd: %s" % error
    ours = [unit for unit in failed if unit in OUR_UNITS]
    detail = "systemd %s%s" % (status, ", failed: %s" % " ".join(failed) if failed else "")
    if kernel:
        log("kernel after the cut:", kernel.replace("\n", " | "))
    if fat != ["4d44", "rw"]:
        # vfat remounts itself read-only (errors=remount-ro) when it finds its FAT inconsistent
        return False, detail + "; /boot (FAT) %s: %s" % ("read-only" if fat[:1] == ["4d44"] else "not mounted", kernel[-200:])
    return status in ("running", "degraded") and not ours, detail


# --- the faults ---------------------------------------------------------------------------------------

class Table:
    def __init__(self):
        self.rows = []

    def add(self, fault, rep, **cells):
        self.rows.append(dict(fault=fault, rep=rep, **cells))

    def render(self):
        columns = ["fault", "rep", "cut", "files", "boots", "rerun", "then", "ok"]
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in self.rows:
            lines.append("| " + " | ".join(str(row.get(column, "")) for column in columns) + " |")
        return "\n".join(lines)


def classify(files, old, new, boot_old, boot_new):
    """Count each managed file as old, new or partial (missing where it existed is partial)."""
    counts = {"old": 0, "new": 0, "same": 0, "partial": 0}
    bad = []
    for path in set(old) | set(new) | set(files):
        got = files.get(path)
        if path in BOOT_FILES:
            choices_old, choices_new = boot_old.get(path), boot_new.get(path)
        else:
            choices_old, choices_new = old.get(path), new.get(path)
        if got == choices_new == choices_old:
            counts["same"] += 1  # the same in A and B (the monitor's program): not rewritten
        elif got == choices_new:
            counts["new"] += 1
        elif got == choices_old:
            counts["old"] += 1
        else:
            counts["partial"] += 1
            bad.append("%s: %s" % (path, "missing" if got is None else "size %d, sha %s" % (got[1], got[0][:12])))
    return counts, bad


def leftover_problems(leftovers, boot_old):
    """Backups must be whole copies of the original boot files; temporary files are only counted."""
    problems, temps = [], 0
    for path, digest, size in leftovers:
        base = re.sub(r"(\.\d+\.[\d@:-]+~|\.bak)$", "", path)
        if base != path and base in BOOT_FILES:
            if (digest, size) != boot_old[base] and (digest, size) not in BOOT_PSI.values():
                problems.append("backup %s is not a whole version (size %d)" % (path, size))
        else:
            temps += 1
    return problems, temps


BOOT_PSI = {}


def power_cuts(table, rng, cuts, hashes, fsck_repairs):
    """``cuts`` power cuts, a table row each; ``fsck_repairs`` gets whether each boot's fsck.fat repaired /boot."""
    boot_old = dict((path, (sha(text), len(text.encode()))) for path, text in BOOT_FILES.items())
    estimate = hashes["seconds"]
    for rep in range(1, cuts + 1):
        target = "B" if rep % 2 else "A"
        source = "A" if target == "B" else "B"
        put_boot_files()
        delay = rng.uniform(3.0, max(6.0, estimate * 0.95))
        run = Run(SITE, target, kill_after=delay)
        if run.cut_at is None:
            log("cut %d: the run ended (%.0f s) before the cut at %.0f s; cutting now" % (rep, run.seconds, delay))
            power_cut()
            run.cut_task = "(after the run)"
        log("cut %d towards %s at %.1f s, in: %s" % (rep, target, run.cut_at or run.seconds, run.cut_task))
        up, seconds = boot(resume=True)
        healthy, detail = board_health() if up else (False, "no SSH after the cut")
        fsck = boot_fsck() if up else "-"
        fsck_repairs.append(fsck.startswith("repaired"))
        row = dict(cut="%s->%s at %.0fs (%s)" % (source, target, run.cut_at or run.seconds, run.cut_task[:40]),
                   boots="yes (%.0fs; fsck.fat %s)" % (seconds, fsck) if healthy else "NO: %s (fsck.fat %s)" % (detail, fsck))
        if not up:
            table.add("power cut", rep, files="-", ok="FAIL", **row)
            return False
        if not healthy:
            table.add("power cut", rep, files="-", rerun="-", then="-", ok="FAIL", **row)
            log("cut %d: %s" % (rep, row))
            return False
        files, leftovers = managed_files()
        converge = Run(SITE, target)
        again = Run(SITE, target)
        hashes.setdefault(target, managed_files()[0])
        counts, bad = classify(files, hashes[source], hashes[target], boot_old, BOOT_PSI)
        problems, temps = leftover_problems(leftovers, boot_old)
        ok = healthy and not bad and not problems and converge.rc == 0 and again.rc == 0 and again.changed == 0
        files_cell = "%d old, %d new, %d partial (+%d same in A and B)" % (
            counts["old"], counts["new"], counts["partial"], counts["same"])
        files_cell += "; %d temp left" % temps if temps else ""
        files_cell += "; " + "; ".join(bad + problems) if bad or problems else ""
        row.update(files=files_cell,
                   rerun="converged, changed=%d" % converge.changed if converge.rc == 0 else "FAILED: %s" % converge.messages()[:1],
                   then="changed=%d%s" % (again.changed, " (%s)" % ", ".join(again.tasks("changed")) if again.changed else ""),
                   ok="ok" if ok else "FAIL")
        table.add("power cut", rep, **row)
        log("cut %d: %s" % (rep, row))
        if managed_files()[0] != hashes[target]:
            log("cut %d: after the rerun the files are not profile %s's" % (rep, target))
        estimate = converge.seconds
    return True


def full_disk(table, hashes):
    ssh("monitor_pid=$(systemctl show -P MainPID rock5b-oom-monitor.service); echo $monitor_pid > /run/fault-monitor-pid; "
        "fallocate -l $(( $(stat -f -c '%f * %S' /) )) /var/tmp/fault-fill 2>/dev/null || true; "
        "i=0; while dd if=/dev/zero of=/var/tmp/fault-fill.$i bs=4k count=256 2>/dev/null; do i=$((i+1)); done; "
        "while dd if=/dev/zero of=/var/tmp/fault-fill.x$i bs=512 count=1 2>/dev/null; do i=$((i+1)); done; df / | tail -1")
    before, _left = managed_files()
    # With pipelining Ansible unpacks each module under Python's tempfile directory (/tmp), not
    # ansible_remote_tmp: with /tmp on the full / it cannot run a module at all ("Module result
    # deserialization failed") and the collection's code never meets the full disk. /tmp is a
    # tmpfs for this run, as on Armbian and Debian 13 images (tmp.mount); remote_tmp goes there too.
    ssh("mount -t tmpfs -o size=64m,mode=1777 fault-tmp /tmp")
    try:
        run = Run(SITE, "B", extra=["-e", "ansible_remote_tmp=/tmp/.ansible-tmp"])
    finally:
        ssh("umount -l /tmp", check=False)
    after, leftovers = managed_files()
    monitor = ssh("systemctl is-active rock5b-oom-monitor.service; "
                  "[ \"$(systemctl show -P MainPID rock5b-oom-monitor.service)\" = \"$(cat /run/fault-monitor-pid)\" ] "
                  "&& echo same-pid || echo restarted", check=False).split()
    ssh("rm -f /var/tmp/fault-fill*; sync")
    messages = run.messages()
    named = [msg for msg in messages if "no space left on device writing /" in msg and "bytes needed" in msg]
    traceback = "Traceback" in run.output
    ok = run.rc != 0 and named and not traceback and after == before and monitor[:1] == ["active"] and not leftovers
    if not ok:
        log("full disk: site.yml rc %d; its last lines:\n%s" % (run.rc, "\n".join(run.lines[-25:])))
    table.add("full disk", 1, cut="/ full (fallocate+dd)", files="unchanged" if after == before else "CHANGED",
              boots="monitor %s" % " ".join(monitor), rerun="failed: %s" % (named[0][:150] if named else messages[:1]),
              then="no traceback" if not traceback else "TRACEBACK", ok="ok" if ok else "FAIL")
    log("full disk:", table.rows[-1])
    return ok


# What the roles write lives in /etc and /usr (the monitor's program): both become read-only bind
# mounts, as under overlayroot's read-only lower layer. `mount -o remount,ro /` itself is refused
# while journald and others hold files open for writing ("mount point is busy").
READ_ONLY_DIRS = ("/etc", "/usr")


def read_only(table, hashes):
    remount = "mount --bind {0} {0} && mount -o remount,ro,bind {0} && findmnt -n -o OPTIONS {0} | grep -q '^ro'"
    ssh("sync; " + " && ".join(remount.format(directory) for directory in READ_ONLY_DIRS))
    try:
        before, _left = managed_files()
        site = Run(SITE, "B")
        each = Run(EACH_ROLE, "B")
        audit = Run(AUDIT, "B", extra=["-e", "rock5b_oom_audit_fail_on_drift=true"])
        live = ssh("sysctl -n vm.overcommit_memory vm.min_free_kbytes; "
                   "cat /proc/$(systemctl show -P MainPID rock5b-oom-monitor.service)/oom_score_adj").split()
        after, _left = managed_files()
    finally:
        ssh("; ".join("umount -l %s" % directory for directory in READ_ONLY_DIRS))
    messages = each.messages()
    read_only_msgs = [msg for msg in messages if "read-only" in msg and "cannot persist" in msg]
    roles = sorted(set(task.split(" : ")[0] for task in each.tasks("fatal")))
    traceback = "Traceback" in site.output + each.output + audit.output
    drift = re.search(r"drifted: (.*?)\(run playbooks/site.yml", audit.output)
    live_ok = live[:2] == ["1", "24576"] and live[2:] == ["-900"]
    ok = (site.rc != 0 and site.messages() and "cannot persist" in site.messages()[0] and not traceback
          and after == before and audit.rc != 0 and drift is not None and live_ok and len(read_only_msgs) == len(messages))
    table.add("read-only root", 1, cut="/etc and /usr read-only (bind mounts)", files="unchanged" if after == before else "CHANGED",
              boots="live: overcommit=%s min_free=%s monitor oom_score_adj=%s" % tuple((live + ["?"] * 3)[:3]),
              rerun="failed per role: %s" % ", ".join(roles),
              then="audit: drifted (%d items)" % (drift.group(1).count(";") + 1) if drift else "audit: NO DRIFT",
              ok="ok" if ok else "FAIL")
    if not ok:
        for name, run in (("site.yml", site), ("each_role.yml", each), ("audit.yml", audit)):
            log("read-only: %s rc %d; its last lines:\n%s" % (name, run.rc, "\n".join(run.lines[-30:])))
    log("read-only: site.yml says:", site.messages()[:1])
    for msg in messages:
        log("read-only, per role:", msg[:300])
    return ok


def main():
    seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(1, 2**31))
    cuts = int(os.environ.get("FAULT_POWER_CUTS", "5"))
    rng = random.Random(seed)
    log("seed %d (FAULT_SEED=%d reproduces the cut moments), %d power cuts" % (seed, seed, cuts))
    started = time.monotonic()
    table, ok, fsck_repairs = Table(), True, []
    try:
        up, seconds = boot()
        if not up:
            raise RuntimeError("the VM did not boot")
        prepare_board()
        first = Run(SITE, "A")
        if first.rc != 0:
            raise RuntimeError("site.yml A failed: %s" % first.messages())
        files, _left = managed_files()
        BOOT_PSI.update((path, files[path]) for path in BOOT_FILES)
        hashes = {"A": files, "seconds": first.seconds}
        log("profile A converged in %.0f s; %d managed files" % (first.seconds, len(files)))
        ok = power_cuts(table, rng, cuts, hashes, fsck_repairs) and ok
        if cuts % 2:
            # An odd number of cuts ends at profile B; the full disk and read-only runs go towards
            # B and must have something to write (else a full disk changes nothing and fails nothing).
            back = Run(SITE, "A")
            if back.rc != 0:
                raise RuntimeError("site.yml A after the cuts failed: %s" % back.messages())
        ok = full_disk(table, hashes) and ok
        ok = read_only(table, hashes) and ok
    finally:
        if os.environ.get("FAULT_KEEP") != "1":
            subprocess.run([str(VM_TOOLS / "stop.sh"), VM], check=False)
    total = time.monotonic() - started
    print()
    print("Fault tests, seed %d, %d s in all:" % (seed, total))
    print(table.render())
    counts = dict(reps=len(table.rows), failed=sum(row["ok"] != "ok" for row in table.rows))
    print("\n%d repetitions, %d failed; wall time %d s; fsck.fat repaired /boot after %d of %d cuts"
          % (counts["reps"], counts["failed"], total, sum(fsck_repairs), len(fsck_repairs)))
    return 0 if ok and counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
