# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitor role's variables checked by the monitor program's own config validation.

The monitor (``roles/monitor/files/rock5b_oom_monitor``) refuses a bad config at start, and the
role runs its ``--validate-config`` on the board before installing one. On the controller,
``validate_role_arguments`` asks the same ``validate_config`` earlier, before any role touches
any board: the role's ``meta/value_rules.yml`` names, for each variable, the config key it fills
(``{rule: monitor_config, key: poll.min_ms}``); this file builds that partial config (the
program fills in its defaults), validates it, and names the variable in the message.

Controller only. The program imports its ``procfs`` package as a top-level package (its
installed layout), so it is loaded from a private directory of links, like the install dir.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import tempfile

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = os.path.join(COLLECTION, "roles", "monitor", "files", "rock5b_oom_monitor")
PROCFS = os.path.join(COLLECTION, "plugins", "module_utils", "procfs")
_CONFIG = []


def program_config():
    """The program's ``config`` module, imported once from a directory shaped like the install dir."""
    if not _CONFIG:
        stage = tempfile.mkdtemp(prefix="rock5b-oom-monitor-")
        os.symlink(PROGRAM, os.path.join(stage, "rock5b_oom_monitor"))
        os.symlink(PROCFS, os.path.join(stage, "procfs"))
        sys.path.insert(0, stage)
        try:
            _CONFIG.append(importlib.import_module("rock5b_oom_monitor.config"))
        finally:
            sys.path.remove(stage)
            shutil.rmtree(stage)
    return _CONFIG[0]


def empty_is_none(value):
    """The role writes an empty hook command or metrics path as null (feature off)."""
    return None if value in ("", [], None) else value


def problems(settings):
    """``settings``: [(config key, variable, value)] -> problems naming the variable."""
    config = program_config()
    raw, variables = {}, {}
    for key, variable, value in settings:
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = empty_is_none(value) if parts[-1] in ("command", "path") else value
        variables[key] = variable
    try:
        config.validate_config(raw)
    except config.ConfigError as error:
        text = str(error)
        named = [variable for key, variable in variables.items() if re.search(r"(?<![\w.])%s(?![\w.])" % re.escape(key), text)]
        return ["%s: %s (the monitor's config would refuse it)" % (", ".join(named or sorted(variables.values())), text)]
    return []
