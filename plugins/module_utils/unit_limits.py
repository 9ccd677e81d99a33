# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A systemd unit's memory properties (cgroup_memory with ``unit``): check, plan, apply, report.

- ``check(params)``: what is wrong with a unit target's options, reading nothing.
- ``plan(...)``: reads the drop-in, a slice's unit file and ``systemctl show`` once and returns a
  ``UnitPlan``: the files to write or remove, the properties to correct on the running unit
  (set-property), whether it must restart to move into its slice, and the settings systemd
  or the host cannot act on (``unsupported``).
- ``apply(plan)`` / ``undo(plan)``: write the files, daemon-reload, set-property, restart, read
  systemd back / put the files and the live properties back.
- ``result(plan, check_mode)``: the module's result for the unit, with the limits the kernel holds
  (read by ``unit_kernel``).
"""

from __future__ import annotations

import os
import re

from ansible_collections.rock5b.oom.plugins.module_utils import systemd, unit_kernel
from ansible_collections.rock5b.oom.plugins.module_utils.unit_kernel import PROPERTIES, SIZE_PROPERTY
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import MAX, human

HEADER = systemd.header("cgroup_memory", "cgroup_limits_units", what="the limits")
# The first line marks a file as the module's (whatever the second line said in other versions).
OWNED = HEADER.splitlines(True)[0]
UNIT_TYPES = (".service", ".slice", ".scope")
# systemd-oomd's properties (set-property changes them on a running unit), and the version that has them.
OOM_PROPERTIES = (
    ("managed_oom_swap", "ManagedOOMSwap", 247), ("managed_oom_memory_pressure", "ManagedOOMMemoryPressure", 247),
    ("managed_oom_memory_pressure_limit", "ManagedOOMMemoryPressureLimit", 248),
)
MIN_VERSION = {"MemoryMin": 240, "OOMPolicy": 243}
PERCENT_RE = re.compile(r"^\s*([0-9]{1,3}(?:\.[0-9]{1,2})?)\s*%\s*$")
UINT32_MAX = 0xFFFFFFFF
SHOWN = ["LoadState", "ActiveState", "FragmentPath", "DropInPaths", "ControlGroup", "Slice"]


# --- values -------------------------------------------------------------------------------------

def permyriad(text):
    """``60%`` -> 6000; None when it is not a percentage from 0 to 100."""
    match = PERCENT_RE.match(text or "")
    value = int(round(float(match.group(1)) * 100)) if match else -1
    return value if 0 <= value <= 10000 else None


def show_permyriad(text):
    """systemd's ManagedOOMMemoryPressureLimit as shown: ``60.00%`` or a uint32 fraction."""
    text = (text or "").strip()
    if text.endswith("%"):
        return permyriad(text)
    if text.isdigit():
        return int(round(int(text) * 10000.0 / UINT32_MAX))
    return None


def render_percent(value):
    whole, rest = divmod(value, 100)
    return "%d%%" % whole if not rest else "%d.%02d%%" % (whole, rest)


def size_from_show(text):
    text = (text or "").strip()
    return MAX if text in ("infinity", "") else int(text) if text.isdigit() else text


def comparable(prop, raw):
    """A property as ``systemctl show`` prints it, in the form the wanted value has."""
    if prop in SIZE_PROPERTY.values():
        return size_from_show(raw)
    if prop == "ManagedOOMMemoryPressureLimit":
        return show_permyriad(raw)
    return raw


def render_live(prop, value):
    """A comparable value as set-property takes it (to put a live property back)."""
    if prop in SIZE_PROPERTY.values():
        return "infinity" if value == MAX else str(value)
    if prop == "ManagedOOMMemoryPressureLimit":
        return render_percent(value or 0)
    return value


def render_slice(description):
    return "%s[Unit]\nDescription=%s\nBefore=slices.target\n" % (HEADER, description.replace("\n", " "))


# --- checking (nothing read) ----------------------------------------------------------------------

def unit_problem(unit, given):
    """Why cgroup_memory takes no limits for the normalized ``unit`` (``given`` as written), or None."""
    if unit == "-.slice":
        return "unit -.slice is the root slice, which takes no memory limits"
    if unit.startswith("-"):
        return "unit %r begins with '-', which tools read as an option; name the unit without it" % given
    if not systemd.valid_unit(unit) or (unit.endswith(".slice") and not systemd.valid_slice(unit)):
        return "unit %r is not a valid %s name" % (given, "slice" if unit.endswith(".slice") else "systemd unit")
    if systemd.unit_suffix(unit) not in UNIT_TYPES:
        return "unit %s: only .service, .scope and .slice units take memory limits here" % unit
    return None


def check(params):
    """Problems of a unit target's options; normalizes ``params["unit"]`` (``ssh`` -> ``ssh.service``)."""
    unit = systemd.normalize_unit(params["unit"])
    problem = unit_problem(unit, params["unit"])
    if problem:
        return [problem]
    params["unit"] = unit
    suffix = systemd.unit_suffix(unit)
    errors = []
    if not systemd.valid_dropin_name(params["dropin_name"]):
        errors.append("dropin_name must be a file name ending in .conf, got %r" % params["dropin_name"])
    for key in ("oom_group", "oom_kill_disable"):
        if params[key] is not None:
            errors.append("%s is for raw cgroups; for a unit use oom_policy: kill (systemd then sets memory.oom.group)" % key)
    for key in ("comm", "pattern", "pids"):
        if params[key] not in (None, []):
            errors.append("%s: only a raw cgroup (path) has processes moved in; a unit's processes are the unit's" % key)
    if params["slice"] is not None:
        slice_name = params["slice"].strip()
        if suffix == ".slice":
            errors.append("slice: a slice's parent is given by its name (a-b.slice is in a.slice), not Slice=")
        elif not systemd.valid_slice(slice_name):
            errors.append("slice %r is not a valid slice unit name (like rock5b-untrusted.slice)" % params["slice"])
    if params["oom_policy"] is not None and suffix != ".service":
        errors.append("oom_policy is a service setting; %s is a %s" % (unit, suffix[1:]))
    limit = params["managed_oom_memory_pressure_limit"]
    if limit is not None and permyriad(str(limit)) is None:
        errors.append("managed_oom_memory_pressure_limit must be a percentage from 0%% to 100%% (like 60%%), got %r" % limit)
    return errors


# --- planning (reading only) ----------------------------------------------------------------------

class UnitPlan:
    """What cgroup_memory would do to one unit; ``applied`` records what apply() did."""

    def __init__(self, systemctl, fs, info, params, desired):
        self.systemctl, self.fs, self.info, self.params, self.desired = systemctl, fs, info, params, desired
        self.unit, self.state, self.suffix = params["unit"], params["state"], systemd.unit_suffix(params["unit"])
        self.unsupported, self.warnings, self.report_at = {}, [], 0
        # settings: (property, rendered value, comparable value, live via set-property)
        self.settings, self.files, self.live_keys = [], [], []
        self.restart_required = self.restart = False
        self.applied = {"files": [], "reloaded": False, "live": [], "restarted": False}
        self.after_raw = None


def _settings(plan, version):
    """The unit's settings for this host's systemd and hierarchy, and what they cannot act on."""
    params, info, unsupported = plan.params, plan.info, plan.unsupported
    hierarchy_name = info["memory"]["hierarchy"]
    if params["slice"] is not None:
        plan.settings.append(("Slice", params["slice"].strip(), params["slice"].strip(), False))
    for key, prop in PROPERTIES:
        if key not in plan.desired:
            continue
        if version < MIN_VERSION.get(prop, 0):
            unsupported[key] = "%s= needs systemd %d or later, this host runs %d" % (prop, MIN_VERSION[prop], version)
            continue
        value = plan.desired[key]
        if hierarchy_name == "v1" and key != "memory_max":
            unsupported[key] = ("systemd applies %s= only on cgroup v2; this host keeps the memory controller in "
                                "cgroup v1 (only MemoryMax= acts, as memory.limit_in_bytes)" % prop)
        elif hierarchy_name is None:
            unsupported[key] = "no memory controller here: %s" % info["memory"]["reason"]
        plan.settings.append((prop, "infinity" if value == MAX else human(value), value, True))
    if params["oom_policy"] is not None:
        if version < MIN_VERSION["OOMPolicy"]:
            unsupported["oom_policy"] = "OOMPolicy= needs systemd 243 or later, this host runs %d" % version
        else:
            plan.settings.append(("OOMPolicy", params["oom_policy"], params["oom_policy"], False))
    oomd_needed = False
    for key, prop, minimum in OOM_PROPERTIES:
        if params[key] is None:
            continue
        if version < minimum:
            unsupported[key] = "%s= needs systemd %d or later, this host runs %d" % (prop, minimum, version)
            continue
        oomd_needed = True
        if key == "managed_oom_memory_pressure_limit":
            limit = permyriad(str(params[key]))
            plan.settings.append((prop, render_percent(limit), limit, True))
        else:
            plan.settings.append((prop, params[key], params[key], True))
        if info["version"] != "v2":
            unsupported[key] = "systemd-oomd works only on the unified cgroup v2 hierarchy (this host: %s)" % info["version"]
    if oomd_needed and info["version"] == "v2":
        oomd = plan.systemctl.show("systemd-oomd.service", ["LoadState", "ActiveState"])
        if oomd.get("ActiveState") != "active":
            for key, _prop, _minimum in OOM_PROPERTIES:
                if params[key] is not None and key not in unsupported:
                    unsupported[key] = ("systemd-oomd is not running (%s, %s): nothing acts on ManagedOOM settings; "
                                        "install the systemd-oomd package and enable it"
                                        % (oomd.get("LoadState"), oomd.get("ActiveState")))


def _files(plan):
    """The drop-in, and for a slice its unit file: (path, old text, new text; None = absent)."""
    params, fs = plan.params, plan.fs
    plan.dropin = systemd.dropin_path(plan.unit, params["dropin_name"])
    plan.old_text = fs.read_text(plan.dropin)
    new_text = None
    if plan.state == "present" and plan.settings:
        new_text = systemd.render_dropin(HEADER, systemd.SECTIONS[plan.suffix],
                                         [(prop, text) for prop, text, _value, _live in plan.settings])
    plan.new_text = new_text
    plan.files = [(plan.dropin, plan.old_text, new_text)]
    if plan.suffix != ".slice":
        return
    fragment = os.path.join(systemd.UNIT_BASE, plan.unit)
    old_fragment = fs.read_text(fragment)
    ours = old_fragment is not None and old_fragment.startswith(OWNED)
    no_other = plan.before_raw.get("FragmentPath") in (None, "", fragment)
    if plan.state == "present" and (ours or (old_fragment is None and no_other)):
        plan.files.append((fragment, old_fragment, render_slice(params["description"])))
    elif plan.state == "absent" and ours:
        plan.files.append((fragment, old_fragment, None))


def plan(systemctl, fs, info, params, desired):
    """Read the unit's files and ``systemctl show`` once; the UnitPlan. Raises ModuleError."""
    plan = UnitPlan(systemctl, fs, info, params, desired)
    plan.version = systemctl.version()
    _settings(plan, plan.version)
    plan.names = sorted(set(SHOWN + [setting[0] for setting in plan.settings] + [prop for _key, prop in PROPERTIES]))
    plan.before_raw = systemctl.show(plan.unit, plan.names)
    plan.before_live = dict((prop, comparable(prop, plan.before_raw.get(prop))) for prop, _t, _v, _l in plan.settings)
    if plan.state == "present" and not plan.settings:
        raise ModuleError("unit %s: no setting to manage (give memory_max, memory_high, swap_max, memory_min, "
                          "memory_low, slice, oom_policy or managed_oom_*), or state=absent to remove the drop-in"
                          % plan.unit)
    _files(plan)
    if plan.state == "query":
        return plan
    raw = plan.before_raw
    plan.loaded = raw.get("LoadState") == "loaded"
    plan.active = raw.get("ActiveState") in systemd.HAS_PROCESSES_STATES
    is_slice = plan.suffix == ".slice"
    if not plan.loaded and plan.state == "present" and not is_slice:
        plan.warnings.append("%s is not loaded (%s): the drop-in is written and applies once the unit is installed"
                             % (plan.unit, raw.get("LoadState")))
    if plan.state == "present" and params["live"] and (plan.loaded or is_slice):
        plan.live_keys = [prop for prop, _text, value, live in plan.settings
                          if live and plan.before_live.get(prop) != value]
    control_group = raw.get("ControlGroup") or ""
    if plan.state == "present" and params["slice"] is not None and plan.active and control_group:
        slice_name = params["slice"].strip()
        plan.restart_required = ("%s/%s" % (systemd.slice_cgroup(slice_name), plan.unit)) not in control_group
        if plan.restart_required and not params["restart_moved"]:
            plan.warnings.append("%s runs in %s; it moves into %s at its next start (restart it, or set "
                                 "cgroup_limits_allow_restart)" % (plan.unit, control_group, slice_name))
    plan.restart = plan.restart_required and params["restart_moved"]
    return plan


def changed(plan):
    return plan.state != "query" and (any(old != new for _p, old, new in plan.files) or bool(plan.live_keys) or plan.restart)


# --- applying -----------------------------------------------------------------------------------

def _write_files(fs, files):
    for path, old, new in files:
        if old == new:
            continue
        if new is None:
            fs.remove(path, prune_parent=path.endswith(".conf"))
        else:
            fs.write_atomic(path, new)


def apply(plan):
    """Write the files, daemon-reload, set-property where systemd still differs, restart, and read
    systemd back. Raises ModuleError (WriteError for a file)."""
    systemctl, unit, applied = plan.systemctl, plan.unit, plan.applied
    is_slice = plan.suffix == ".slice"
    for item in plan.files:
        if item[1] != item[2]:
            _write_files(plan.fs, [item])
            applied["files"].append(item)
    if applied["files"]:
        systemctl.daemon_reload()
        applied["reloaded"] = True
    if plan.live_keys:
        current = systemctl.show(unit, list(plan.live_keys))
        lagging = unit_kernel.lagging(plan) if plan.active else set()
        still = [(prop, text) for prop, text, value, _live in plan.settings
                 if prop in plan.live_keys and (comparable(prop, current.get(prop)) != value or prop in lagging)]
        if still and (plan.active or is_slice):
            applied["live"] = [prop for prop, _text in still]
            systemctl.set_property(unit, ["%s=%s" % item for item in still], runtime=True)
    if plan.restart:
        try:
            systemctl.restart(unit)
        except ModuleError as error:
            raise ModuleError("%s (restarting %s to move it into %s)" % (error.msg, unit, plan.params["slice"].strip()))
        applied["restarted"] = True
    plan.after_raw = systemctl.show(unit, plan.names)
    after_live = dict((prop, comparable(prop, plan.after_raw.get(prop))) for prop, _t, _v, _l in plan.settings)
    if plan.state == "present":
        wrong = ["%s=%s (wanted %s)" % (prop, plan.after_raw.get(prop), text) for prop, text, value, _live
                 in plan.settings if after_live.get(prop) != value and (plan.loaded or is_slice)]
        if wrong:
            raise ModuleError("systemd reports other values for %s after the run: %s. Another drop-in or a "
                              "runtime setting (/run/systemd/system.control) overrides the managed one?"
                              % (unit, ", ".join(wrong)), after={"live": after_live})


def undo(plan):
    """Put back what apply() changed: the files (then daemon-reload) and the live properties.
    A restart cannot be undone."""
    applied = plan.applied
    _write_files(plan.fs, [(path, new, old) for path, old, new in reversed(applied["files"])])
    if applied["reloaded"]:
        plan.systemctl.daemon_reload()
    if applied["live"]:
        plan.systemctl.set_property(plan.unit, ["%s=%s" % (prop, render_live(prop, plan.before_live.get(prop)))
                                                for prop in applied["live"]], runtime=True)


# --- reporting ----------------------------------------------------------------------------------

def _query_result(plan):
    kernel, stats, _directory = unit_kernel.limits(plan.fs, plan.info, plan.before_raw.get("ControlGroup"))
    current = dict((prop, comparable(prop, plan.before_raw.get(prop))) for _key, prop in PROPERTIES)
    dropin = systemd.parse_dropin(plan.old_text)
    return dict(changed=False, unit=plan.unit, systemd_version=plan.version, dropin=plan.dropin, dropin_changed=False,
                live_changed=[], daemon_reloaded=False, restart_required=False, restarted=False, kernel=kernel,
                stats=stats, before={"dropin": dropin, "live": current}, after={"dropin": dropin, "live": current})


def result(plan, check_mode):
    """The unit's result (after apply(), or predicted in check mode); kernel warnings join plan.warnings."""
    if plan.state == "query":
        return _query_result(plan)
    after_live = dict(plan.before_live)
    control_group = plan.before_raw.get("ControlGroup") or ""
    if plan.after_raw is not None:
        after_live = dict((prop, comparable(prop, plan.after_raw.get(prop))) for prop, _t, _v, _l in plan.settings)
        control_group = plan.after_raw.get("ControlGroup") or ""
    elif plan.state == "present":
        after_live.update((prop, value) for prop, _text, value, _live in plan.settings if prop in plan.live_keys)
    kernel, stats, directory = unit_kernel.limits(plan.fs, plan.info, control_group)
    if not check_mode:
        unit_kernel.add_warnings(plan, kernel, directory, control_group)
    dropin_changed = any(old != new for _path, old, new in plan.files)
    diff = [{"before_header": path, "after_header": path, "before": old or "", "after": new or ""}
            for path, old, new in plan.files if old != new] or [{"before": "", "after": ""}]
    if plan.live_keys:
        diff.append({
            "before_header": "%s (live)" % plan.unit, "after_header": "%s (live)" % plan.unit,
            "before": "".join("%s=%s\n" % (prop, plan.before_raw.get(prop)) for prop in plan.live_keys),
            "after": "".join("%s=%s\n" % (prop, text) for prop, text, _v, _l in plan.settings if prop in plan.live_keys),
        })
    restarted = plan.applied["restarted"] if not check_mode else plan.restart
    return dict(changed=changed(plan), unit=plan.unit, systemd_version=plan.version, dropin=plan.dropin,
                dropin_changed=dropin_changed, live_changed=plan.live_keys, daemon_reloaded=plan.applied["reloaded"],
                restart_required=plan.restart_required and not plan.applied["restarted"], restarted=restarted,
                kernel=kernel, stats=stats,
                before={"dropin": systemd.parse_dropin(plan.old_text), "live": plan.before_live},
                after={"dropin": systemd.parse_dropin(plan.new_text), "live": after_live}, diff=diff)
