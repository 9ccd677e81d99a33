#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lru_gen
short_description: Keep the multi-gen LRU's enabled switch and min_ttl_ms live and across reboots
version_added: 0.2.0
description:
  - Manages the two settings of the multi-gen LRU (MGLRU, Linux 6.1+ built with C(CONFIG_LRU_GEN)) in
    C(/sys/kernel/mm/lru_gen) - its main switch (C(enabled)) and C(min_ttl_ms) - live and at boot.
  - Writes each value live (C(y) or C(n) to C(enabled), the number to C(min_ttl_ms)) and reads it back; a
    value the kernel refuses or does not hold fails the task, and the live values written so far are put back.
  - Persists the values as C(w) lines of one tmpfiles.d file, which C(systemd-tmpfiles-setup.service) writes to
    C(/sys) at every boot (these are sysfs files, not sysctls). The file is written atomically and durably.
  - Where C(/sys/kernel/mm/lru_gen) is absent (a kernel older than 6.1, or one built without
    C(CONFIG_LRU_GEN)) it changes nothing and returns C(skipped) with a message saying why; a warning too when
    a value was asked for.
  - With both O(enabled) and O(min_ttl_ms) V(null) it removes its own file if present. The live values stay as
    they are until the next reboot, when the kernel's defaults return.
  - Every option is checked before the board is read; nothing is changed on the host when the task fails.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
options:
  enabled:
    description:
      - The MGLRU's main switch. V(true) writes C(y) (every component the CPU supports on), V(false) writes
        C(n) (all off, the classic active/inactive LRU).
      - Only the main switch (bit C(0x0001) of the kernel's mask) is compared, so a mask set by hand with some
        components off is left alone while the switch is on.
      - V(null) leaves it as it is and out of the file.
    type: bool
  min_ttl_ms:
    description:
      - Keep the working set of the last O(min_ttl_ms) milliseconds from eviction; when it cannot be kept, the
        kernel OOM-kills instead of thrashing. V(0) turns the protection off. A whole number from 0 to 60000.
      - The kernel stores it in ticks, so a value that is not a whole number of ticks (4 ms at C(HZ=250)) reads
        back rounded up to the next tick; that is accepted as the value asked for.
      - A non-zero value helps where the board would otherwise stall for minutes under memory pressure
        (thrashing); it hurts where the working set of the last O(min_ttl_ms) cannot be kept in memory, for
        example under heavy page cache churn with little swap - then the kernel OOM-kills with most RAM free.
        V(1000) is the kernel documentation's example.
      - V(null) leaves it as it is and out of the file.
    type: raw
  path:
    description:
      - The tmpfiles.d file that persists the values.
      - A C(.conf) file directly in C(/etc/tmpfiles.d), C(/run/tmpfiles.d), C(/usr/local/lib/tmpfiles.d) or
        C(/usr/lib/tmpfiles.d), an absolute path without C(..), C(.) or doubled slashes. A file in
        C(/run/tmpfiles.d) is lost at reboot unless something recreates it.
    type: path
    default: /etc/tmpfiles.d/rock5b-oom-lru-gen.conf
  apply_live:
    description:
      - Write the values to C(/sys/kernel/mm/lru_gen) now as well as to the file.
    type: bool
    default: true
  strict_live:
    description:
      - Fail, changing nothing, where C(/sys) is read-only (a container) instead of writing only the file and
        warning.
    type: bool
    default: false
notes:
  - The MGLRU is not namespaced. In a container with a writable C(/sys) this module would change the host; the
    ordinary read-only C(/sys) of a container is detected.
  - The role C(rock5b.oom.mglru) calls this module with the inventory's settings.
seealso:
  - name: Multi-Gen LRU admin guide
    description: The kernel's documentation of C(/sys/kernel/mm/lru_gen).
    link: https://docs.kernel.org/admin-guide/mm/multigen_lru.html
  - name: tmpfiles.d(5)
    description: The C(w) lines and the directories systemd-tmpfiles reads.
    link: https://www.freedesktop.org/software/systemd/man/latest/tmpfiles.d.html
"""

EXAMPLES = r"""
- name: Turn the multi-gen LRU on and protect the last second's working set
  rock5b.oom.lru_gen:
    enabled: true
    min_ttl_ms: 1000

- name: Only persist the switch, for the next boot
  rock5b.oom.lru_gen:
    enabled: true
    apply_live: false

- name: Stop managing MGLRU (the live values stay until the next reboot)
  rock5b.oom.lru_gen:
    enabled: null
    min_ttl_ms: null
"""

RETURN = r"""
present:
  description: Whether the kernel has C(/sys/kernel/mm/lru_gen). When V(false) nothing was changed.
  returned: always
  type: bool
skipped:
  description: V(true) where the kernel has no multi-gen LRU; RV(msg) says why.
  returned: when the kernel has no multi-gen LRU
  type: bool
msg:
  description: What was done, or why nothing was.
  returned: always
  type: str
  sample: "/sys/kernel/mm/lru_gen is absent: kernel 5.10.160-rockchip is older than 6.1, the first with the multi-gen LRU"
path:
  description: The managed tmpfiles.d file.
  returned: always
  type: str
  sample: /etc/tmpfiles.d/rock5b-oom-lru-gen.conf
desired:
  description: The settings asked for, V(null) for those left alone.
  returned: always
  type: dict
  sample: {"enabled": true, "min_ttl_ms": 1000}
before:
  description:
    - C(live) - the kernel's values before the run (C(enabled) the main switch, C(enabled_mask) the mask as the kernel
      shows it); C(file) - the values in the managed file (V(null) where it has none).
  returned: always
  type: dict
  sample: {"live": {"enabled": false, "enabled_mask": "0x0000", "min_ttl_ms": 0}, "file": {"enabled": null, "min_ttl_ms": null}}
after:
  description: The same after the run, live values as read back (in check mode, as predicted).
  returned: always
  type: dict
  sample: {"live": {"enabled": true, "enabled_mask": "0x0003", "min_ttl_ms": 1000}, "file": {"enabled": true, "min_ttl_ms": 1000}}
file_changed:
  description: Whether the file was (or in check mode would be) written or removed.
  returned: always
  type: bool
live_changed:
  description: Settings written (or in check mode to be written) to C(/sys/kernel/mm/lru_gen).
  returned: always
  type: list
  elements: str
  sample: ["enabled", "min_ttl_ms"]
live_applied:
  description: Whether the values were applied live; V(false) where C(/sys) is read-only or O(apply_live=false).
  returned: always
  type: bool
boot_drift:
  description: Other tmpfiles.d files that would stop the managed file's values from being written at boot.
  returned: always
  type: list
  elements: str
  sample: ["/etc/tmpfiles.d/10-vendor.conf writes /sys/kernel/mm/lru_gen/min_ttl_ms before /etc/tmpfiles.d/rock5b-oom-lru-gen.conf at boot: its value wins"]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils import hostfs
from ansible_collections.rock5b.oom.plugins.module_utils import lru_gen_settings as settings
from ansible_collections.rock5b.oom.plugins.module_utils.batch import apply_changes
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, failing_on
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.lru_gen import read_lru_gen


def skipped(module, fs, desired, path):
    """The result where the kernel has no multi-gen LRU: nothing read or changed but the reason."""
    reason = settings.absence_reason(fs.proc)
    if any(value is not None for value in desired.values()):
        module.warn("MGLRU settings not applied, nothing was changed: %s" % reason)
    none = dict.fromkeys(settings.SETTINGS)
    return dict(changed=False, skipped=True, present=False, msg="skipped, nothing was changed: %s" % reason,
                path=path, desired=desired, before={"live": dict(none), "file": dict(none)},
                after={"live": dict(none), "file": dict(none)}, file_changed=False, live_changed=[],
                live_applied=False, boot_drift=[])


def live_policy(module, fs, warnings):
    """Whether the values are applied live (a read-only /sys warns, or fails with strict_live)."""
    params = module.params
    if not params["apply_live"]:
        return False
    if settings.live_writable(fs.sys):
        return True
    if params["strict_live"]:
        raise ModuleError("%s/kernel/mm/lru_gen is read-only here (a container?) and %s is set: nothing was changed."
                          % (fs.sys, settings.named("strict_live")))
    warnings.append("%s/kernel/mm/lru_gen is read-only here (a container?): wrote the file only; the values apply at "
                    "the next boot. Set strict_live (mglru_strict_live) to fail instead." % fs.sys)
    return False


def live_plan(fs, state, desired, apply):
    """The settings to write live; ModuleError where the kernel's value cannot be read."""
    unreadable = [name for name in settings.SETTINGS if desired[name] is not None and state[name] is None]
    if unreadable:
        raise ModuleError("cannot read %s, nothing was changed" % ", ".join(
            "%s/kernel/mm/lru_gen/%s" % (fs.sys, name) for name in unreadable))
    if not apply:
        return []
    return [name for name in settings.SETTINGS if not settings.holds(name, desired[name], state[name])]


def predicted_live(state, desired, live_changed):
    after = dict(state)
    for name in live_changed:
        after[name] = desired[name]
    if "enabled" in live_changed:
        after["enabled_mask"] = None  # the kernel decides which components come on with it
    return after


def diffs(path, old_text, new_text, before, desired, live_changed):
    diff = [{"before_header": path, "after_header": path, "before": old_text or "", "after": new_text or ""}]
    if live_changed:
        header = "%s (live)" % settings.BOARD_DIR
        diff.append({
            "before_header": header, "after_header": header,
            "before": "".join("%s = %s\n" % (name, before["enabled_mask"] if name == "enabled" else before[name])
                              for name in live_changed),
            "after": "".join("%s = %s\n" % (name, settings.kernel_text(name, desired[name])) for name in live_changed),
        })
    return diff


def run(module, fs):
    desired, path = settings.validate(module.params)
    state = read_lru_gen(fs.sys)
    if not state["present"]:
        return skipped(module, fs, desired, path)
    warnings = []
    apply = live_policy(module, fs, warnings)
    live_changed = live_plan(fs, state, desired, apply)
    old_text, new_text, action = settings.file_plan(fs, path, desired, warnings)
    managing = any(value is not None for value in desired.values())
    boot_drift = settings.boot_conflicts(fs, path, desired) if managing else []
    warnings += boot_drift

    if not module.check_mode:
        changes = [settings.live_change(fs.sys, name, desired[name], state) for name in live_changed]
        if action:
            changes.append(settings.file_change(fs, path, old_text, new_text))
        apply_changes(changes)
    file_changed = action is not None
    full = fs.path(path)
    if managing and os.path.isfile(full):
        # Same text but another mode or owner is drift too; these honour check mode themselves.
        file_changed = module.set_mode_if_different(full, "0644", file_changed)
        file_changed = module.set_owner_if_different(full, "root", file_changed)
        file_changed = module.set_group_if_different(full, "root", file_changed)

    after_live = predicted_live(live_state_of(state), desired, live_changed)
    if live_changed and not module.check_mode:
        after_live = live_state_of(read_lru_gen(fs.sys))
    for warning in warnings:
        module.warn(warning)
    changed = file_changed or bool(live_changed)
    return dict(
        changed=changed, present=True, path=path, desired=desired,
        msg="%s: %s" % ("changed" if changed else "ok", summary(desired, live_changed, action, apply)),
        before={"live": live_state_of(state), "file": settings.file_values(old_text)},
        after={"live": after_live, "file": settings.file_values(new_text)},
        file_changed=file_changed, live_changed=live_changed, live_applied=apply, boot_drift=boot_drift,
        diff=diffs(path, old_text, new_text, state, desired, live_changed),
    )


def live_state_of(state):
    return {"enabled": state["enabled"], "enabled_mask": state["enabled_mask"], "min_ttl_ms": state["min_ttl_ms"]}


def summary(desired, live_changed, action, apply):
    asked = ", ".join("%s=%s" % (name, settings.kernel_text(name, desired[name]))
                      for name in settings.SETTINGS if desired[name] is not None)
    parts = ["MGLRU %s" % (asked or "left as the kernel has it")]
    if live_changed:
        parts.append("written live: %s" % ", ".join(live_changed))
    elif not apply and asked:
        parts.append("not applied live")
    if action == "remove":
        parts.append("the file is removed (live values stay until the next reboot)")
    elif action == "write":
        parts.append("the file is written")
    return "; ".join(parts)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            enabled=dict(type="bool"),
            min_ttl_ms=dict(type="raw"),
            path=dict(type="path", default=settings.DEFAULT_PATH),
            apply_live=dict(type="bool", default=True),
            strict_live=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    with failing_on(module):
        result = run(module, hostfs.host())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
