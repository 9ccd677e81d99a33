"""Every role variable and module option meets at least one case of the bad-input corpus.

tests/integration/bad_input_corpus.yml (and bad_input_corpus.d/*.yml, see tests/integration/corpus.py) is run against a lab board (test_bad_input_corpus.py);
this test keeps it complete without the lab: each top-level option of every role's ``main``
entry point (roles/*/meta/argument_specs.yml) must be set by some case's ``vars`` (role_cases
through site.yml, self_heal_cases through playbooks/self_heal.yml), and each option in a
module's DOCUMENTATION must be a key of some module case's ``args``. Suboptions are covered
through their parent. What is not covered is in EXEMPT, with the reason no typo exists.
"""

from __future__ import annotations

import ast
import glob
import os
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from corpus import load_corpus  # noqa: E402  pylint: disable=wrong-import-position

# Modules whose options never reach a board: the corpus measures a board before and after.
CONTROLLER_ONLY = {
    "validate_role_arguments": "an action that runs on the controller only; its one option (roles) is set by "
                               "playbooks/tasks/harden.yml, not by an operator",
    "fleet_report": "an action that runs on the controller only and writes the report there; it never touches a board",
}

# Options no typo exists for: every value of their type is valid.
EXEMPT = {
    "module:memory_pressure:name": "free text: a label the result echoes, any string is valid",
}


def role_options():
    """{"role:<role>:<variable>"} of every role's main entry point."""
    names = set()
    for path in sorted(glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml"))):
        role = path.split(os.sep)[-3]
        with open(path, encoding="utf-8") as handle:
            main = yaml.safe_load(handle)["argument_specs"]["main"]
        names.update("role:%s:%s" % (role, option) for option in main.get("options") or {})
    return names


def module_documentation(path):
    """The DOCUMENTATION string of a module file, read without importing it."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "DOCUMENTATION" for target in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no DOCUMENTATION" % path)


def module_options():
    """{"module:<module>:<option>"} of every module that runs on a board."""
    names = set()
    for path in sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "*.py"))):
        module = os.path.basename(path)[:-3]
        if module in CONTROLLER_ONLY or module.startswith("_"):
            continue
        names.update("module:%s:%s" % (module, option) for option in module_documentation(path).get("options") or {})
    return names


def role_of(variable, roles):
    """The role a variable belongs to: every role variable starts with its role's name."""
    matches = [role for role in roles if variable.startswith(role + "_")]
    return max(matches, key=len) if matches else None


def exercised(gaps=True):
    """{"role:...", "module:..."} that some corpus case sets (known_gaps too unless ``gaps`` is false)."""
    corpus = load_corpus()
    roles = set(os.path.basename(os.path.dirname(path)) for path in glob.glob(os.path.join(REPO, "roles", "*", "meta")))
    names = set()
    for case in corpus.get("role_cases", []) + corpus.get("self_heal_cases", []):
        for variable in case.get("vars") or {}:
            names.add("role:%s:%s" % (role_of(variable, roles), variable))
    for case in corpus.get("module_cases", []) + (corpus.get("known_gaps") or [] if gaps else []):
        names.update("module:%s:%s" % (case["module"], option) for option in case.get("args") or {})
    return names


def test_every_role_variable_and_module_option_has_a_bad_input_case():
    wanted = role_options() | module_options()
    covered = exercised()
    missing = sorted(wanted - covered - set(EXEMPT))
    stale = sorted(set(EXEMPT) - wanted)
    exempt_but_covered = sorted(set(EXEMPT) & covered)
    for kind in ("role", "module"):
        of_kind = set(name for name in wanted if name.startswith(kind + ":"))
        print("\n%s options: %d, with a corpus case %d, exempt %d, missing %d" % (
            kind, len(of_kind), len(of_kind & covered), len(of_kind & set(EXEMPT)),
            len([name for name in missing if name.startswith(kind + ":")])))
    print("controller-only modules skipped: %s" % ", ".join(sorted(CONTROLLER_ONLY)))
    only_gaps = sorted(covered - exercised(gaps=False))
    print("covered only by a known gap (an open bug): %s" % (", ".join(only_gaps) or "none"))
    assert not missing, "no bad-input case sets:\n  " + "\n  ".join(missing)
    assert not stale, "EXEMPT names options that do not exist: %s" % stale
    assert not exempt_but_covered, "EXEMPT names options the corpus covers (drop them from EXEMPT): %s" % exempt_but_covered


def test_cases_set_only_options_that_exist():
    """A case naming a variable or option the role or module does not have tests nothing."""
    unknown = sorted(exercised() - role_options() - module_options())
    assert not unknown, "corpus cases set unknown options: %s" % unknown


def test_case_ids_are_unique_and_each_case_names_what_the_message_must_contain():
    corpus = load_corpus()
    gaps = corpus.get("known_gaps") or []
    cases = corpus["role_cases"] + corpus["module_cases"] + corpus.get("self_heal_cases", []) + gaps
    ids = [case["id"] for case in cases]
    assert len(ids) == len(set(ids)), sorted(set(i for i in ids if ids.count(i) > 1))
    assert all(case.get("names") and case.get("class") for case in cases)
    assert all(case.get("bug") for case in gaps), "each known gap says what the bug is"


def test_every_module_of_a_case_has_a_task_that_runs_it():
    """tests/integration/bad_input_modules.yml runs each case's module by name; a module without
    its task there runs nothing, and every case of it reads as "the run did not fail"."""
    with open(os.path.join(REPO, "tests", "integration", "bad_input_modules.yml"), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)[0]["tasks"]
    runnable = set(name[len("rock5b.oom."):] for task in tasks for name in task if name.startswith("rock5b.oom."))
    named = set(case["module"] for case in load_corpus()["module_cases"])
    assert not named - runnable, "modules with corpus cases but no task in bad_input_modules.yml: %s" % sorted(named - runnable)
