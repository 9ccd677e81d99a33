# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether ``psi=1`` on the kernel command line can turn PSI on, from the configs of the kernel a
board runs and of the kernels installed in its config directory (``/boot/config-<release>``).

The configs are found and parsed by ``procfs.pressure`` (``kernel_config``,
``installed_kernel_configs``); this file holds the rule kernel_cmdline refuses by:

* the running kernel's config is found and says PSI is not built (``# CONFIG_PSI is not set``,
  or no CONFIG_PSI line), and no installed kernel's config has ``CONFIG_PSI=y``: ``psi=1`` cannot
  help any kernel the board may boot, so the task fails before anything is written;
* the running kernel lacks PSI but an installed one has it: ``psi=1`` helps once that one boots;
* no config of the running kernel is found: nothing is known, the arguments are written and the
  result says so (many vendor kernels ship neither /proc/config.gz nor /boot/config-*);
* the running kernel has ``CONFIG_PSI=y``: ``psi=1`` turns PSI on where
  ``CONFIG_PSI_DEFAULT_DISABLED=y`` (Radxa BSP kernels) or ``psi=0`` keeps it off, and is
  harmless elsewhere.
"""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils.boot_cmdline import arg_key, arg_value
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.kernel import read_release

OVERRIDE = "psi_check=false skips this check (role variable psi_boot_kernel_check: false)"


def turns_psi_on(args):
    """Whether one of ``args`` (arguments to add) switches PSI on as the kernel's setup_psi()
    reads ``psi=``: kstrtobool's true values (``1``, ``y``, ``t``, ``e``, ``on``, any case)."""
    for arg in args:
        value = arg_value(arg) if arg_key(arg) == "psi" else None
        if value and (value[0] in "1yYtTeE" or value[:2].lower() == "on"):
            return True
    return False


def _kernel(options, running):
    return {"release": options["release"], "config": options["source"], "running": running,
            "psi": options.get("CONFIG_PSI") == "y", "default_disabled": options.get("CONFIG_PSI_DEFAULT_DISABLED") == "y"}


def _named(kernels):
    return ", ".join("%s (%s)" % (kernel["release"], kernel["config"]) for kernel in kernels)


def kernels(fs, config_dir):
    """(running release, [kernel]) of the board: the running kernel first when its config is found,
    then every other kernel installed in ``config_dir``. A kernel is a dict: release, config (the
    file read), running, psi (CONFIG_PSI=y), default_disabled (CONFIG_PSI_DEFAULT_DISABLED=y)."""
    release = read_release(fs.proc) or ""
    running = pressure.kernel_config(fs.proc, fs.root, config_dir)
    found = [_kernel(running, True)] if running else []
    found += [_kernel(options, False) for options in pressure.installed_kernel_configs(fs.root, config_dir)
              if not (running and options["release"] == running["release"])]
    return release, found


def _built_message(running, cmdline_psi):
    if cmdline_psi is False:
        return "%s is built with CONFIG_PSI=y and psi=0 turns it off now: psi=1 turns PSI on at the next boot" % (
            running["release"])
    if running["default_disabled"]:
        return ("%s is built with CONFIG_PSI=y and CONFIG_PSI_DEFAULT_DISABLED=y (%s): psi=1 turns PSI on at "
                "the next boot" % (running["release"], running["config"]))
    return "%s is built with CONFIG_PSI=y and PSI on by default (%s): psi=1 is not needed there, and harmless" % (
        running["release"], running["config"])


def check(fs, config_dir):
    """The ``kernel_psi`` result of kernel_cmdline: state (built, other_kernel, unknown), release,
    message, kernels, and warnings (installed kernels that psi=1 cannot help). Raises ModuleError,
    before anything is written, when psi=1 cannot help (state not_built)."""
    release, found = kernels(fs, config_dir)
    running = found[0] if found and found[0]["running"] else None
    with_psi = [kernel for kernel in found if kernel["psi"]]
    without = [kernel for kernel in found if not kernel["psi"] and not kernel["running"]]
    result = {"release": release, "kernels": found, "warnings": []}
    if running is None:
        shown = release or "(release unreadable)"
        result.update(state="unknown", message=(
            "no kernel config of the running kernel %s was found (/proc/config.gz, %s/config-%s): whether it is built "
            "with CONFIG_PSI is unknown; psi=1 is added without knowing" % (shown, config_dir.rstrip("/"), release)))
    elif running["psi"]:
        result.update(state="built", message=_built_message(running, pressure.cmdline_psi(fs.proc)))
    elif with_psi:
        result.update(state="other_kernel", message=(
            "the running kernel %s is built without PSI (%s: CONFIG_PSI is not set); psi=1 turns PSI on once the "
            "board boots %s" % (release, running["config"], _named(with_psi))))
    else:
        others = "; neither are the installed kernels %s" % _named(without) if without else ""
        raise ModuleError(
            "psi=1 cannot turn PSI on, nothing was changed: the running kernel %s is built without PSI (%s: "
            "CONFIG_PSI is not set)%s, and no kernel config in %s has CONFIG_PSI=y; %s. %s" % (
                release, running["config"], others, config_dir, pressure.REBUILD_HINT, OVERRIDE),
            kernel_psi={"state": "not_built", "release": release, "kernels": found,
                        "message": "psi=1 cannot turn PSI on: no kernel whose config was found is built with CONFIG_PSI"})
    if with_psi and without:
        result["warnings"] = ["the installed kernel %s is built without PSI (%s: CONFIG_PSI is not set): psi=1 cannot "
                              "turn PSI on when it boots" % (kernel["release"], kernel["config"]) for kernel in without]
    elif without:
        result["message"] += "; the installed kernels %s are built without PSI" % _named(without)
    return result
