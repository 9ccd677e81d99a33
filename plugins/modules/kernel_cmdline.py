#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_cmdline
short_description: Add or remove kernel command line arguments in a board's boot configuration
version_added: 0.1.0
description:
  - Edits the kernel command line where Rock 5B+ images keep it, in one call for all of them
    that exist - C(/etc/default/u-boot) (C(U_BOOT_PARAMETERS), which u-boot-update turns into
    extlinux.conf on every kernel upgrade), C(/boot/extlinux/extlinux.conf) (every C(append) line),
    C(/boot/armbianEnv.txt) and DietPi's C(/boot/dietpiEnv.txt) (C(extraargs), added when missing)
    and C(/etc/kernel/cmdline).
  - Idempotent - adding C(psi=1) replaces C(psi=0) in place and is a no-op when present.
  - The command line is read as the kernel reads it - a double-quoted value such as
    C(dyndbg="file foo.c +p") is one argument - and every argument the task does not touch is
    written back as it was. Arguments after C(--) belong to init and are left alone.
  - Everything is checked before the first write - the arguments, then every boot file. A boot
    file that cannot be read as UTF-8 text, has a double quote that is not closed, or is a
    symbolic link leading out of its directory (C(/boot) or C(/etc)) fails the task and nothing
    is changed. A symbolic link inside it is written through, and stays a link.
  - A file that has no place for the arguments (no C(append) line, a C(U_BOOT_PARAMETERS) that
    uses shell expansion) is left alone with a warning under V(auto), and fails the task when
    named in O(targets).
  - Before turning PSI on (C(psi=1)), checks that a kernel the board runs or may boot is built with
    C(CONFIG_PSI=y), see O(psi_check). The check reads only, so it is the same in check mode.
  - Reports whether the running kernel (C(/proc/cmdline)) still differs, that is whether a
    reboot is needed. It never reboots.
  - Files are written atomically and durably (a temporary file synced to disk, renamed over the
    old one, the directory synced; mode and owner kept), each with an optional timestamped backup.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
options:
  add:
    description:
      - Arguments that must be on the command line, like C(psi=1). A C(key=value) replaces other
        values of the same key.
      - Each is one word, C(key) or C(key=value), of printable ASCII - the key letters, digits,
        C(_), C(-) and C(.); the value those and C(,:/=+@%^~) - so that no boot loader or shell
        (C(/etc/default/u-boot) is sourced by sh) acts on it. Quotes, spaces, parentheses and C($ ` \ ; & | < >) are refused.
      - C(root), C(rootfstype), C(rootflags), C(rootwait) and C(init) are needed to boot and are
        refused here and in O(remove).
    type: list
    elements: str
    default: []
  remove:
    description:
      - Arguments that must not be on the command line. An item without C(=) removes every
        argument with that key. The same rules as O(add) apply.
    type: list
    elements: str
    default: []
  targets:
    description:
      - Which files to edit. V(auto) edits every known file that exists. At least one.
    type: list
    elements: str
    choices: [auto, u_boot_default, extlinux, armbian_env, dietpi_env, kernel_cmdline]
    default: [auto]
  psi_check:
    description:
      - When O(add) turns PSI on (C(psi=1), or another true value the kernel reads), first read the
        kernel configs - the running kernel's from C(/proc/config.gz), else
        C(<kernel_config_dir>/config-<release>), and every installed kernel's
        C(<kernel_config_dir>/config-*) - and fail, nothing written, when the running kernel's
        config says PSI is not built (C(# CONFIG_PSI is not set), or no C(CONFIG_PSI) line) and no
        installed kernel has C(CONFIG_PSI=y). C(psi=1) cannot help such a board; the message names
        the config file read and the kernel release.
      - When no config of the running kernel is found, the arguments are written and RV(kernel_psi)
        says so (state V(unknown)). When only another installed kernel has PSI, the arguments are
        written (state V(other_kernel)); installed kernels without PSI beside one with it are
        warnings.
      - V(false) skips the check.
    type: bool
    default: true
  kernel_config_dir:
    description:
      - The directory of the installed kernels' C(config-<release>) files, an absolute path. Only
        read, by O(psi_check).
    type: str
    default: /boot
  backup:
    description:
      - Keep a timestamped copy of each file before changing it (beside a link's target).
      - When writing one file fails, the files already written in the run are put back.
    type: bool
    default: true
notes:
  - Boot files on FAT (a boot partition) are replaced the FAT-safe way (a synced C(<file>.new) and
    C(<file>.bak), then the rename), all file kinds alike.
  - Radxa's BSP kernels build PSI with C(CONFIG_PSI_DEFAULT_DISABLED), so C(/proc/pressure) only
    appears after booting with C(psi=1).
  - Adding an argument that asks for the cgroup v1 hierarchy (C(systemd.unified_cgroup_hierarchy=0), or C(false), C(no),
    C(off); C(systemd.legacy_systemd_cgroup_controller=1)) fails, and nothing is written, on a board whose systemd is 256
    or later (256 freezes at boot under cgroup v1; Debian 13's 257 waits 30 s at every boot, then boots cgroup v2; 258
    removed v1) - and on a board whose systemd
    version cannot be read (C(libsystemd-shared-<N>.so) under C(/usr/lib/<multiarch>/systemd), C(/usr/lib/systemd) or
    C(/lib/systemd), else C(systemctl --version)), since a fleet run must never write a boot file a board may not boot
    from. Such an argument already in a boot file of such a board is reported as a warning; O(remove) takes it out.
"""

EXAMPLES = r"""
- name: Enable PSI at the next boot
  rock5b.oom.kernel_cmdline:
    add:
      - psi=1
  register: cmdline

- name: Reboot when the running kernel still lacks it
  ansible.builtin.reboot:
  when: cmdline.reboot_required
"""

RETURN = r"""
files:
  description: Each boot file found, with its kind, whether it changed, and the backup made.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/boot/armbianEnv.txt", "kind": "armbian_env", "changed": true,
            "backup_file": "/boot/armbianEnv.txt.1234.2026-11-25@10:00:00~", "problem": ""}]
reboot_required:
  description: Whether the running kernel's command line still lacks (or still has) arguments.
  returned: always
  type: bool
running:
  description: The running kernel's command line (/proc/cmdline).
  returned: always
  type: str
kernel_psi:
  description:
    - What O(psi_check) found - V(built) (the running kernel has C(CONFIG_PSI=y)), V(other_kernel)
      (only another installed kernel has it), V(unknown) (no config of the running kernel found),
      V(not_built) (in the failure's result) or V(not_checked) (O(psi_check) off, or O(add) does
      not turn PSI on) - with the running release, a message for a person and each kernel whose
      config was read.
  returned: always
  type: dict
  sample: {"state": "built", "release": "6.1.84-1-rk2410",
           "message": "6.1.84-1-rk2410 is built with CONFIG_PSI=y and CONFIG_PSI_DEFAULT_DISABLED=y
                       (/boot/config-6.1.84-1-rk2410): psi=1 turns PSI on at the next boot",
           "kernels": [{"release": "6.1.84-1-rk2410", "config": "/boot/config-6.1.84-1-rk2410",
                        "running": true, "psi": true, "default_disabled": true}]}
pending:
  description: The arguments the running kernel still lacks, or still has, that a reboot would fix.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils import hostfs, paths, psi_kernels
from ansible_collections.rock5b.oom.plugins.module_utils.batch import Change, apply_changes
from ansible_collections.rock5b.oom.plugins.module_utils.boot_cmdline import (
    KNOWN_FILES, arg_key, argument_problem, asks_for_cgroup_v1, edit_file, file_args, missing_from_running, read_boot_file,
)
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, failing_on, invalid
from ansible_collections.rock5b.oom.plugins.module_utils.systemd import board_version, cgroup_v1_refusal, cgroup_v1_warning


def check_arguments(add, remove, targets, config_dir):
    """Every problem of the options at once, each naming its option, before anything is read."""
    problems = ["%s: %s" % (option, problem) for option, items in (("add", add), ("remove", remove))
                for problem in map(argument_problem, items) if problem]
    problems += [problem for problem in [paths.absolute_problem(config_dir, "kernel_config_dir")] if problem]
    if not targets:
        problems.append("targets: give at least one (auto edits every boot file found)")
    if problems:
        raise invalid(problems)
    removed_keys = set(item for item in remove if "=" not in item)
    clash = sorted(set(add) & set(remove) | set(item for item in add if arg_key(item) in removed_keys))
    if clash:
        raise invalid(["add and remove: arguments both added and removed: %s" % ", ".join(clash)])
    if not add and not remove:
        raise ModuleError("nothing to do: give add or remove")


def check_cgroup_v1(module, fs, add):
    """Refuse, before any boot file is read, arguments asking for cgroup v1 on a board whose systemd
    does not boot with it, or whose systemd version is unknown."""
    asking = [item for item in add if asks_for_cgroup_v1(item)]
    refusal = cgroup_v1_refusal(board_version(fs, module), asking) if asking else None
    if refusal:
        raise ModuleError(refusal)


def cgroup_v1_warnings(module, fs, plans):
    """A warning for each boot file that will still ask for cgroup v1 on a board whose systemd does
    not boot with it."""
    found = [(plan["path"], [arg for arg in file_args(plan["kind"], plan["after"]) if asks_for_cgroup_v1(arg)])
             for plan in plans]
    found = [(path, args) for path, args in found if args]
    version = board_version(fs, module) if found else None
    return [warning for warning in (cgroup_v1_warning(version, path, args) for path, args in found) if warning]


def plan_files(fs, wanted, add, remove):
    """Per boot file found: kind, path, real (the file written, a link's target), before, after
    (the edited text) and problem. A broken file (unreadable, not UTF-8, an unclosed quote, a
    link out of its directory) fails the run: nothing is changed."""
    kinds = [(kind, path) for kind, path in KNOWN_FILES if "auto" in wanted or kind in wanted]
    found = [(kind, path) for kind, path in kinds if fs.lexists(path)]
    if not found:
        raise ModuleError("no boot configuration found: looked for %s" % ", ".join(p for _k, p in kinds))
    plans, broken = [], []
    for kind, path in found:
        try:
            real, before = read_boot_file(fs, kind, path)
            after, problem = edit_file(kind, before, add, remove)
        except ValueError as error:
            broken.append(str(error) if str(error).startswith(path) else "%s: %s" % (path, error))
            continue
        if problem and "auto" not in wanted:
            broken.append("%s: %s" % (path, problem))
        plans.append({"kind": kind, "path": path, "real": real, "before": before,
                      "after": before if after is None else after, "problem": problem})
    if broken:
        raise invalid(broken, what="boot files that cannot be edited")
    if all(plan["problem"] for plan in plans):
        raise ModuleError("no boot file could take the arguments: %s" % "; ".join(
            "%s: %s" % (plan["path"], plan["problem"]) for plan in plans))
    return plans


def file_change(module, fs, plan, entry):
    """The write of one planned boot file (through a link to its target), with its undo."""
    info = fs.lstat(plan["real"])
    owner = (info.st_uid, info.st_gid)

    def apply():
        if module.params["backup"]:
            # durable too (hostfs), unlike module.backup_local's copy: a cut never leaves a torn backup
            entry["backup_file"] = fs.backup(plan["real"])
        # Durable: a power cut leaves the old or the new boot file, never a torn one (on FAT:
        # hostfs.replace_on_fat, with a <file>.bak).
        fs.write_atomic(plan["real"], plan["after"], mode=None, owner=owner)

    def undo():
        fs.write_atomic(plan["real"], plan["before"], mode=None, owner=owner)

    return Change(plan["path"], apply, undo)


def run(module, fs):
    add, remove = module.params["add"], module.params["remove"]
    check_arguments(add, remove, module.params["targets"], module.params["kernel_config_dir"])
    check_cgroup_v1(module, fs, add)
    kernel_psi = {"state": "not_checked", "release": "", "message": "", "kernels": [], "warnings": []}
    if module.params["psi_check"] and psi_kernels.turns_psi_on(add):
        kernel_psi = psi_kernels.check(fs, module.params["kernel_config_dir"])
    plans = plan_files(fs, module.params["targets"], add, remove)
    running = hostfs.read_text(fs.proc_path("cmdline"))
    if running is None:
        raise ModuleError("cannot read %s, nothing was changed" % fs.proc_path("cmdline"))
    running = running.strip()
    files, diff, changes = [], [], []
    for plan in plans:
        changed = plan["before"] != plan["after"]
        entry = {"path": plan["path"], "kind": plan["kind"], "changed": changed,
                 "backup_file": None, "problem": plan["problem"]}
        if changed:
            diff.append({"before_header": plan["path"], "after_header": plan["path"],
                         "before": plan["before"], "after": plan["after"]})
            changes.append(file_change(module, fs, plan, entry))
        files.append(entry)
    if not module.check_mode:
        apply_changes(changes)

    pending = missing_from_running(running, add, remove)
    for plan in plans:
        if plan["problem"]:
            module.warn("%s left alone: %s" % (plan["path"], plan["problem"]))
    for warning in cgroup_v1_warnings(module, fs, plans) + kernel_psi.pop("warnings"):
        module.warn(warning)
    return dict(changed=any(f["changed"] for f in files), files=files, running=running,
                pending=pending, reboot_required=bool(pending), diff=diff, kernel_psi=kernel_psi)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            add=dict(type="list", elements="str", default=[]),
            remove=dict(type="list", elements="str", default=[]),
            targets=dict(type="list", elements="str", default=["auto"],
                         choices=["auto", "u_boot_default", "extlinux", "armbian_env", "dietpi_env", "kernel_cmdline"]),
            psi_check=dict(type="bool", default=True),
            kernel_config_dir=dict(type="str", default="/boot"),
            backup=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    with failing_on(module):
        result = run(module, hostfs.host())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
