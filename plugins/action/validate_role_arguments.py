# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate several of this collection's roles' arguments in one task.

ansible-core prepends one ``validate_argument_spec`` task to every role that has
``meta/argument_specs.yml``. playbooks/tasks/harden.yml imports five roles, so that is five
tasks per board that run no module but still cost a forked worker and a strategy round each.
harden.yml imports the roles with ``rolespec_validate: false`` and runs this action once
instead: the same specs (read from each role's own file, nothing copied), the same
validator, the same variables (role defaults, inventory, extra vars), and the same failure,
naming the role.

Then the values the specs accepted meet each role's ``meta/value_rules.yml`` (ranges, sizes,
names, patterns, the monitor's config: ``module_utils/value_rules.py``), so a typo in an
inventory fails here, on the controller, before any role changes any board.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.plugins.action.validate_argument_spec import ActionModule as ValidateArgumentSpec
from ansible_collections.rock5b.oom.plugins.module_utils import value_rules

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


class ActionModule(ValidateArgumentSpec):
    """Validate the ``main`` entry point of each named role against the task's variables.

    Reuses ansible.builtin.validate_argument_spec's reading of the variables; only the loop
    over roles and the role-naming message are this collection's.
    """

    _VALID_ARGS = frozenset(("roles",))

    def _role_options(self, role):
        path = os.path.join(ROLES_DIR, role, "meta", "argument_specs.yml")
        if not os.path.isfile(path):
            raise AnsibleActionFail("rock5b.oom has no role %r with meta/argument_specs.yml (looked for %s)" % (role, path))
        specs = self._loader.load_from_file(path) or {}
        main = (specs.get("argument_specs") or {}).get("main")
        if not main:
            raise AnsibleActionFail("%s has no 'main' entry point" % path)
        return main.get("options") or {}

    def _value_rules(self, role):
        """The role's ``meta/value_rules.yml`` (what an argument spec cannot say), or none."""
        path = os.path.join(ROLES_DIR, role, "meta", "value_rules.yml")
        if not os.path.isfile(path):
            return {}, path
        return (self._loader.load_from_file(path) or {}).get("value_rules") or {}, path

    def _problems(self, role, task_vars):
        """The argument spec's errors; when there are none, the value rules' (on the converted values)."""
        options = self._role_options(role)
        provided = self.get_args_from_task_vars(options, task_vars)
        validated = ArgumentSpecValidator(options).validate(provided, validate_role_argument_spec=True)
        if validated.error_messages:
            return list(validated.error_messages)
        rules, path = self._value_rules(role)
        try:
            # The values as typed (templated, not converted): what the role hands its modules
            # and templates. The spec's int turns "٥" into 5; the monitor's config would not.
            return value_rules.check(rules, provided, owner=path)
        except ValueError as error:
            raise AnsibleActionFail(str(error))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = ActionBase.run(self, tmp, task_vars)
        del tmp
        roles = self._task.args.get("roles")
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            raise AnsibleActionFail("'roles' must be a non-empty list of role names, got %r" % (roles,))

        errors = {}
        for role in roles:
            messages = self._problems(role, task_vars)
            if messages:
                errors[role] = messages

        result["changed"] = False
        result["validated_roles"] = list(roles)
        if errors:
            result["failed"] = True
            result["argument_errors"] = errors
            result["msg"] = "Validation of arguments failed:\n" + "\n".join(
                "rock5b.oom.%s: %s" % (role, message) for role, messages in errors.items() for message in messages)
        else:
            result["msg"] = "The arguments of %s are valid" % ", ".join("rock5b.oom." + r for r in roles)
        return result
