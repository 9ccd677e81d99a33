# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the collection's layers, and where it becomes fail_json.

The layers (systemd, hostfs, selection, batch, ...) raise ``ModuleError`` with a message for a
person and extra result keys; a module's ``main`` runs its work under ``failing_on(module)``, the
one place that turns it into ``module.fail_json``. No layer calls fail_json itself.
"""

from __future__ import annotations

import contextlib

from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import WriteError


class ModuleError(Exception):
    """A failure to report as the task's result: ``msg`` and extra result keys."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def invalid(errors, what="invalid arguments", **result):
    """ModuleError for validation problems found before any change (all of them, joined)."""
    return ModuleError("%s, nothing was changed: %s" % (what, "; ".join(errors)), errors=list(errors), **result)


@contextlib.contextmanager
def failing_on(module):
    """Turn a ModuleError (or a WriteError from hostfs) raised inside into module.fail_json."""
    try:
        yield
    except ModuleError as error:
        module.fail_json(msg=error.msg, **error.result)
    except WriteError as error:
        module.fail_json(msg=str(error), path=error.path)
