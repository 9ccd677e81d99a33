#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vm_sysctl
short_description: Keep a profile of vm.* sysctls in one sysctl.d file and live in the kernel
version_added: 0.1.0
description:
  - Manages a whole profile of C(vm.*) sysctls in one call, which is what makes a fleet run cheap.
  - Writes the profile to one sysctl.d drop-in, atomically (a temporary file renamed over the old
    one), with a header saying it is managed.
  - Applies the values live through C(/proc/sys) where it is writable, then reads every key back
    from the kernel, then writes the file; a value the kernel refuses or changes, or a file that
    cannot be written, fails the task and the live values written so far are restored.
  - Reports drift three ways (desired, file, live) and names other configuration files that would
    override a managed key at boot, in the order the board applies them (C(/etc/sysctl.d),
    C(/run/sysctl.d), C(/usr/local/lib/sysctl.d), C(/usr/lib/sysctl.d), C(/lib/sysctl.d) by file
    name). C(/etc/sysctl.conf) counts only where the board reads it at boot, decided from its files
    (RV(boot_reader)); systemd-sysctl reads it only through a link such as Debian 12's
    C(/etc/sysctl.d/99-sysctl.conf). A value left in it otherwise is noted in RV(boot_ignored).
  - Before turning on strict overcommit (C(vm.overcommit_memory=2)) live, it checks that the
    resulting commit limit leaves room above what is committed already, and refuses otherwise.
    When nothing is applied live (read-only C(/proc/sys), O(apply_live=false)) there is no
    switch to guard and the check is skipped.
  - When C(/proc/sys) is read-only (a container), it writes the file, skips the live apply and
    warns, unless O(strict_live) asks it to fail.
  - Nothing is changed on the host when the task fails on bad input or a refused pre-flight.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
options:
  settings:
    description:
      - The profile, C(vm.*) key to value. Keys may use dots or slashes.
      - Every value is checked before anything changes, whether or not it is applied live.
      - Known keys are checked against the kernel's ranges, for example C(vm.overcommit_memory) 0-2,
        C(vm.panic_on_oom) 0-2, C(vm.watermark_scale_factor) 1-3000, C(vm.oom_dump_tasks) and
        C(vm.oom_kill_allocating_task) 0-1, C(vm.swappiness) 0-200, C(vm.min_free_kbytes) at most
        a quarter of MemTotal, the others within the kernel's integer type. Booleans, fractions,
        NaN and infinities are refused.
      - Other C(vm.*) keys must exist in the running kernel and take an integer or a line of
        integers separated by spaces.
      - One key spelled twice (C(vm.swappiness) and C(vm/swappiness)) is refused.
      - C(vm.min_free_kbytes=auto) resolves to MemTotal/128 kB, at least 32768 and at most 262144.
      - A key set to V(null) is left out of the profile.
    type: dict
    required: true
  path:
    description:
      - The sysctl.d drop-in that holds the profile.
      - Must be a C(.conf) file directly in a directory systemd-sysctl reads at boot
        (C(/etc/sysctl.d), C(/run/sysctl.d), C(/usr/local/lib/sysctl.d), C(/usr/lib/sysctl.d));
        it is normalized first, so C(..) cannot lead out of them. A file in C(/run/sysctl.d) is
        lost at reboot unless something recreates it.
    type: path
    default: /etc/sysctl.d/99-oom-rock5b.conf
  apply_live:
    description:
      - Write the values to C(/proc/sys) as well as to the file.
    type: bool
    default: true
  strict_live:
    description:
      - Fail, changing nothing, when C(/proc/sys) is read-only instead of warning and writing only
        the file.
    type: bool
    default: false
  overcommit_check:
    description:
      - Refuse C(vm.overcommit_memory=2) when the new CommitLimit would be below Committed_AS plus
        O(overcommit_margin_kb).
    type: bool
    default: true
  overcommit_margin_kb:
    description:
      - Room, in kB, that must stay free under the new commit limit for the pre-flight to pass.
    type: int
    default: 131072
  fail_on_override:
    description:
      - Fail when another configuration file would override a managed key at boot, instead of
        warning.
    type: bool
    default: false
notes:
  - C(vm.*) sysctls are not namespaced. In a container with a writable C(/proc/sys) this module
    would change the host; the ordinary read-only C(/proc/sys) of a container is detected.
  - Strict overcommit turns many OOM kills into allocation failures (C(ENOMEM)); programs that
    reserve large virtual ranges (browsers, JVMs, Go) may fail to start under it.
seealso:
  - name: sysctl.d(5)
    description: Order and precedence of sysctl configuration files.
    link: https://www.freedesktop.org/software/systemd/man/latest/sysctl.d.html
  - name: Documentation for /proc/sys/vm
    description: What each vm.* key means.
    link: https://docs.kernel.org/admin-guide/sysctl/vm.html
"""

EXAMPLES = r"""
- name: Apply the Rock 5B+ OOM profile
  rock5b.oom.vm_sysctl:
    settings:
      vm.min_free_kbytes: auto
      vm.overcommit_memory: 2
      vm.overcommit_ratio: 80
      vm.oom_dump_tasks: 1
      vm.oom_kill_allocating_task: 0
      vm.panic_on_oom: 0
      vm.watermark_scale_factor: 10

- name: Only report drift, do not touch the live kernel
  rock5b.oom.vm_sysctl:
    settings:
      vm.panic_on_oom: 1
    apply_live: false
  check_mode: true
  register: vm_profile

- name: Insist on the live apply (fails in containers)
  rock5b.oom.vm_sysctl:
    settings:
      vm.oom_dump_tasks: 1
    path: /etc/sysctl.d/90-oom.conf
    strict_live: true
"""

RETURN = r"""
settings:
  description: The resolved profile, as the kernel prints each value (C(auto) resolved).
  returned: always
  type: dict
  sample: {"vm.min_free_kbytes": "32768", "vm.overcommit_memory": "2"}
path:
  description: The managed file.
  returned: always
  type: str
  sample: /etc/sysctl.d/99-oom-rock5b.conf
before:
  description: The managed keys in the file and live before the run (V(null) where missing).
  returned: always
  type: dict
  sample: {"file": {"vm.panic_on_oom": "1"}, "live": {"vm.panic_on_oom": "0"}}
after:
  description: The managed keys in the file and live after the run, live values as read back.
  returned: always
  type: dict
  sample: {"file": {"vm.panic_on_oom": "0"}, "live": {"vm.panic_on_oom": "0"}}
drift:
  description: Keys whose file or live value differed from the profile before the run.
  returned: always
  type: dict
  sample: {"vm.panic_on_oom": {"desired": "0", "file": "1", "live": "0"}}
file_changed:
  description: Whether the file was (or in check mode would be) rewritten.
  returned: always
  type: bool
live_changed:
  description: Keys written (or in check mode to be written) to /proc/sys.
  returned: always
  type: list
  elements: str
live_applied:
  description: Whether live values were applied; false when /proc/sys is read-only or O(apply_live=false).
  returned: always
  type: bool
overrides:
  description: Other files that would override a managed key at boot.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/sysctl.d/99-sysctl.conf", "key": "vm.panic_on_oom", "value": "1", "line": 3,
            "reason": "applied after /etc/sysctl.d/99-oom-rock5b.conf, sets vm.panic_on_oom = 1"}]
boot_drift:
  description:
    - One sentence per override in RV(overrides), naming the key, the file and its line. The
      board boots with those values, so an audit counts each as drift.
  returned: always
  type: list
  elements: str
  sample: ["vm.panic_on_oom is overridden at boot: /etc/sysctl.d/99-sysctl.conf line 3 sets
            vm.panic_on_oom = 1 after /etc/sysctl.d/99-oom-rock5b.conf"]
boot_ignored:
  description:
    - One sentence per line of a file the board does not read at boot (C(/etc/sysctl.conf) where no
      sysctl.d file links to it) that sets a managed key to another value. Not drift; also a warning.
  returned: always
  type: list
  elements: str
boot_reader:
  description: What applies the sysctl files at boot, and whether it reads C(/etc/sysctl.conf).
  returned: always
  type: dict
  sample: {"reader": "systemd-sysctl", "reads_sysctl_conf": false,
           "why": "systemd-sysctl.service applies the sysctl.d files; it does not read /etc/sysctl.conf itself"}
overcommit:
  description: The strict overcommit pre-flight, in kB.
  returned: always
  type: dict
  sample: {"applies": true, "ok": true, "new_limit_kb": 3276800, "live_limit_kb": 2097152,
           "committed_kb": 1048576, "margin_kb": 131072, "message": ""}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils import hostfs
from ansible_collections.rock5b.oom.plugins.module_utils.batch import Change, apply_changes
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, failing_on, invalid
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.meminfo import read_meminfo
from ansible_collections.rock5b.oom.plugins.module_utils.sysctl import (
    boot_report, conf_path_problem, conf_target_problem, conf_values, key_exists, live_writable, parse_conf,
    read_live, render_conf, write_live,
)
from ansible_collections.rock5b.oom.plugins.module_utils.vm_profile import (
    overcommit_preflight, validate_settings,
)

HEADER = (
    "Managed by Ansible (rock5b.oom.vm_sysctl). Local edits are overwritten on the next run;\n"
    "set values through the sysctl_profile_settings variable instead.\n"
    "The vm.* OOM profile for Radxa Rock 5B+ boards."
)
# Ratio and limit first, so strict overcommit is switched on with its final commit limit.
WRITE_FIRST = ("vm.overcommit_kbytes", "vm.overcommit_ratio")


def write_order(keys):
    return sorted(keys, key=lambda key: (key not in WRITE_FIRST, key))


def live_change(proc, key, value, before):
    """Writing ``key`` live and reading it back; on a refusal or another value read back the key
    is left (or put back) as it was, so the batch undoes only what came before it."""
    def apply():
        try:
            write_live(proc, key, value)
        except OSError as error:
            raise ModuleError("the kernel refused %s = %s: %s" % (key, value, error.strerror or error))
        readback = read_live(proc, key)
        if readback != value:
            problem = "the kernel holds %s = %s after writing %s" % (key, readback, value)
            try:
                write_live(proc, key, before)
            except OSError:
                problem += "; and %s could not be restored to %s" % (key, before)
            raise ModuleError(problem)
    return Change("live %s" % key, apply, lambda: write_live(proc, key, before), live=True)


def file_change(fs, path, old_text, new_text):
    def undo():
        if old_text is None:
            fs.remove(path)
        else:
            fs.write_atomic(path, old_text, None)
    return Change("file %s" % path, lambda: fs.write_atomic(path, new_text, 0o644), undo)


def profile_path(fs, params):
    """The managed file's path, normalized; ModuleError naming the option when systemd-sysctl
    would not read it at boot or something else stands at it on the board."""
    problem = conf_path_problem(params["path"])
    path = os.path.normpath(params["path"]) if problem is None else params["path"]
    problem = problem or conf_target_problem(fs, path)
    if problem:
        raise ModuleError("invalid path (role variable sysctl_profile_path), nothing was changed: %s" % problem)
    return path


def desired_settings(fs, params):
    """The validated profile and /proc/meminfo; ModuleError when a setting is wrong."""
    if params["overcommit_margin_kb"] < 0:
        raise ModuleError("overcommit_margin_kb must be >= 0, got %d" % params["overcommit_margin_kb"])
    meminfo = read_meminfo(fs.proc)
    desired, errors = validate_settings(params["settings"], meminfo.get("MemTotal", 0))
    missing = sorted(key for key in desired if not key_exists(fs.proc, key))
    errors += ["%s: this kernel has no such sysctl (no %s/sys/%s)" % (key, fs.proc, key.replace(".", "/"))
               for key in missing]
    if errors:
        raise invalid(errors, what="invalid settings")
    if not desired:
        raise ModuleError("settings is empty: there is no profile to manage")
    return desired, meminfo


def live_policy(fs, params, desired, warnings):
    """Whether the values are applied live (a read-only /proc/sys warns, or fails with strict_live)."""
    writable = live_writable(fs.proc, desired)
    if params["apply_live"] and not writable:
        if params["strict_live"]:
            raise ModuleError("%s/sys is read-only here (a container?) and strict_live is set: "
                              "nothing was changed." % fs.proc)
        warnings.append("%s/sys is read-only here (a container?): wrote the file only; the values "
                        "apply at the next boot. Set strict_live (sysctl_profile_strict_live) to "
                        "fail instead." % fs.proc)
    return params["apply_live"] and writable


def run(module, fs):
    params = module.params
    path = profile_path(fs, params)
    desired, meminfo = desired_settings(fs, params)
    before_live = dict((key, read_live(fs.proc, key)) for key in desired)
    warnings = []
    apply = live_policy(fs, params, desired, warnings)

    overcommit = overcommit_preflight(meminfo, desired, before_live, params["overcommit_margin_kb"])
    if not apply:
        # The check guards a live switch. Without one (read-only /proc/sys, apply_live=false)
        # the file takes effect at boot, when little is committed yet; and a container's
        # /proc/meminfo is the host's, which says nothing about the board.
        overcommit.update(applies=False, ok=True, message="not checked: nothing is applied live")
    if params["overcommit_check"] and not overcommit["ok"]:
        raise ModuleError(overcommit["message"] + " Nothing was changed.", overcommit=overcommit)

    old_text = fs.read_text(path)
    new_text = render_conf(desired, HEADER)
    before_file = conf_values(parse_conf(old_text or ""))
    file_changed = old_text != new_text
    drift = {}
    for key in desired:
        entry = {"desired": desired[key], "file": before_file.get(key), "live": before_live[key]}
        if entry["file"] != desired[key] or entry["live"] != desired[key]:
            drift[key] = entry
    live_changed = [key for key in write_order(desired) if before_live[key] != desired[key]] if apply else []
    boot, boot_warnings = boot_report(fs, path, desired, params["fail_on_override"])
    warnings += boot_warnings

    if not module.check_mode:
        # One batch: live values first (the kernel may refuse one), then the file; a failure
        # anywhere puts back the live values written before it.
        changes = [live_change(fs.proc, key, desired[key], before_live[key]) for key in live_changed]
        if file_changed:
            changes.append(file_change(fs, path, old_text, new_text))
        apply_changes(changes)
    full_path = fs.path(path)
    if os.path.exists(full_path):
        # Same text but wrong mode or owner is drift too; these honour check mode themselves.
        file_changed = module.set_mode_if_different(full_path, "0644", file_changed)
        file_changed = module.set_owner_if_different(full_path, "root", file_changed)
        file_changed = module.set_group_if_different(full_path, "root", file_changed)

    after_live = dict(before_live)
    if live_changed:
        after_live = dict((key, read_live(fs.proc, key) if not module.check_mode else desired[key])
                          for key in desired)
    diff = [{"before_header": path, "after_header": path, "before": old_text or "", "after": new_text}]
    if live_changed:
        diff.append({
            "before_header": "%s/sys (live)" % fs.proc, "after_header": "%s/sys (live)" % fs.proc,
            "before": "".join("%s = %s\n" % (key, before_live[key]) for key in live_changed),
            "after": "".join("%s = %s\n" % (key, desired[key]) for key in live_changed),
        })
    for warning in warnings:
        module.warn(warning)
    return dict(
        changed=file_changed or bool(live_changed),
        settings=desired, path=path,
        before={"file": dict((key, before_file.get(key)) for key in desired), "live": before_live},
        after={"file": dict(desired), "live": after_live},
        drift=drift, file_changed=file_changed, live_changed=live_changed, live_applied=apply,
        overcommit=overcommit, diff=diff, **boot
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type="dict", required=True),
            path=dict(type="path", default="/etc/sysctl.d/99-oom-rock5b.conf"),
            apply_live=dict(type="bool", default=True),
            strict_live=dict(type="bool", default=False),
            overcommit_check=dict(type="bool", default=True),
            overcommit_margin_kb=dict(type="int", default=131072),
            fail_on_override=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    with failing_on(module):
        result = run(module, hostfs.host())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
