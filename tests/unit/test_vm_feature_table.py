"""The VM scenario's feature x platform table: tools/vm/feature_table.py from a results JSON,
its --check, the molecule log's converge/idempotence, and the pytest plugin that writes the
JSON (extensions/molecule/vm/tests/vm_results.py) on a fake test module over two fake VMs."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
VM_TESTS = REPO / "extensions" / "molecule" / "vm" / "tests"
sys.path.insert(0, str(REPO / "tools" / "vm"))
sys.path.insert(0, str(VM_TESTS))

import feature_table  # noqa: E402  pylint: disable=wrong-import-position
import vm_results  # noqa: E402  pylint: disable=wrong-import-position

pytest_plugins = ["pytester"]

README = "# VM\n\nintro\n\n<!-- feature-table:start -->\nold\n<!-- feature-table:end -->\n\n## after\n"


def rec(test, host, feature, outcome, reason=""):
    return {"test": test, "host": host, "feature": feature, "outcome": outcome, "reason": reason,
            "seconds": 2.5, "source": "verify"}


def platform(name, mode, codename, kernel, cgroup="cgroup2fs", psi="yes", cmdline="console=ttyAMA0"):
    facts = {"codename": codename, "kernel": kernel, "cgroup_fs": cgroup, "unified_fs": "", "psi": psi, "cmdline": cmdline}
    return {"name": name, "vm_mode": mode, "facts": facts, "label": vm_results.platform_label(facts, name), "seconds": 61.4}


@pytest.fixture(name="doc")
def fixture_doc():
    return {
        "schema": 1, "date": "2026-12-06T01:02:03+00:00", "commit": "abc1234",
        "features": ["OOM drill", "psi_boot"],
        "platforms": [platform("vm-v2", "v2", "bookworm", "6.1.0-28-arm64"),
                      platform("vm-nopsi", "nopsi", "bookworm", "6.1.0-28-arm64", psi="no", cmdline="psi=0 quiet"),
                      platform("vm-trixie", "v2", "trixie", "6.12.48+deb13-arm64")],
        "results": [
            rec("t.py::test_drill[vm-v2]", "vm-v2", "OOM drill", "passed"),
            rec("t.py::test_facts[vm-v2]", "vm-v2", "OOM drill", "passed"),
            rec("t.py::test_drill[vm-nopsi]", "vm-nopsi", "OOM drill", "not_applicable", "runs on v2, v1 VMs only, this one boots nopsi"),
            rec("t.py::test_facts[vm-nopsi]", "vm-nopsi", "OOM drill", "not_applicable", "runs on v2, v1 VMs only, this one boots nopsi"),
            rec("t.py::test_drill[vm-trixie]", "vm-trixie", "OOM drill", "passed"),
            rec("t.py::test_facts[vm-trixie]", "vm-trixie", "OOM drill", "failed", "AssertionError: no victim | pid 0"),
            rec("b.py::test_boot[vm-v2]", "vm-v2", "psi_boot", "skipped", "no boot files"),
            rec("b.py::test_boot[vm-nopsi]", "vm-nopsi", "psi_boot", "passed"),
            rec("b.py::test_other[vm-nopsi]", "vm-nopsi", "psi_boot", "deselected", "needs_monitor not in VM_TEST_ENABLE"),
        ],
    }


def table_rows(text):
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]


def test_platform_labels_come_from_the_vm_facts():
    assert vm_results.platform_label(vm_results.parse_facts(
        "codename=trixie\nkernel=6.12.48+deb13-arm64\ncgroup_fs=cgroup2fs\nunified_fs=\npsi=yes\ncmdline=quiet\n"), "x") == "trixie 6.12 v2"
    v1 = {"codename": "bookworm", "kernel": "6.1.0-28-arm64", "cgroup_fs": "tmpfs", "unified_fs": "", "psi": "yes"}
    assert vm_results.platform_label(v1, "x") == "bookworm 6.1 v1"
    assert vm_results.platform_label(dict(v1, unified_fs="cgroup2fs"), "x") == "bookworm 6.1 hybrid"
    nopsi = dict(v1, cgroup_fs="cgroup2fs", psi="no", cmdline="root=/dev/vda psi=0")
    assert vm_results.platform_label(nopsi, "x") == "bookworm 6.1 v2 psi=0"
    assert vm_results.platform_label(dict(nopsi, cmdline="root=/dev/vda"), "x") == "bookworm 6.1 v2 no PSI"
    assert vm_results.platform_label({}, "rock5b-vm-v2") == "rock5b-vm-v2"  # the VM could not be asked


def test_table_cells(doc):
    rows = table_rows(feature_table.render(doc))
    assert rows[0] == ["feature", "bookworm 6.1 v2", "bookworm 6.1 v2 psi=0", "trixie 6.12 v2"]
    assert rows[1] == ["OOM drill", "tested", "not applicable (runs on v2, v1 VMs only, this one boots nopsi)",
                       "fails (AssertionError: no victim \\| pid 0)"]
    assert rows[2] == ["psi_boot", "not applicable (no boot files)",
                       "partly tested (1 of 2; needs_monitor not in VM_TEST_ENABLE)", "not run"]
    assert rows[4][:4] == ["bookworm 6.1 v2", "`vm-v2`", "v2", "6.1.0-28-arm64"]
    assert rows[6][:4] == ["trixie 6.12 v2", "`vm-trixie`", "v2", "6.12.48+deb13-arm64"]
    assert rows[6][4] == "61 s"
    text = feature_table.render(doc)
    assert "Run of 2026-12-06 at commit `abc1234`." in text
    assert feature_table.short("a <b>\n | c") == "a &lt;b> \\| c"  # no HTML tag, no extra column


def test_same_label_twice_gets_the_instance_name(doc):
    doc["platforms"][2] = platform("vm-v2b", "v2", "bookworm", "6.1.0-28-arm64")
    assert table_rows(feature_table.render(doc))[0][1:] == ["bookworm 6.1 v2 (vm-v2)", "bookworm 6.1 v2 psi=0",
                                                            "bookworm 6.1 v2 (vm-v2b)"]


def write_doc(tmp_path, doc):
    results = tmp_path / "results-20261206-010203.json"
    results.write_text(json.dumps(doc))
    readme = tmp_path / "README.md"
    readme.write_text(README)
    return results, readme


def test_writes_between_the_markers_and_check_catches_a_hand_edit(tmp_path, doc, capsys):
    results, readme = write_doc(tmp_path, doc)
    assert feature_table.main([str(results), "--readme", str(readme), "--check"]) == 1  # "old" is not the table
    assert readme.read_text() == README  # --check writes nothing
    assert feature_table.main([str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# VM\n\nintro\n\n<!-- feature-table:start -->\n<!-- generated")
    assert text.endswith("<!-- feature-table:end -->\n\n## after\n") and "\nold\n" not in text
    assert feature_table.main([str(results), "--readme", str(readme), "--check"]) == 0
    readme.write_text(text.replace("| OOM drill | tested |", "| OOM drill | tested by hand |"))
    capsys.readouterr()
    assert feature_table.main([str(results), "--readme", str(readme), "--check"]) == 1
    assert "+| OOM drill | tested |" in capsys.readouterr().out
    readme.write_text(text.replace("<!-- feature-table:end -->", ""))
    assert feature_table.main([str(results), "--readme", str(readme)]) == 2  # markers gone: refused, not guessed


def molecule_log(idempotence_changed=0):
    def recap(changed, failed=0):
        return "".join(f"  {t:4d}   │ {h:<26} : ok=5    changed={changed if h == 'vm-v2' else 0}    unreachable=0    "
                       f"failed={failed if h == 'vm-trixie' else 0}\n  {t:4d}   │   skipped=2    rescued=0    ignored=0\n"
                       for t, h in ((9, "vm-nopsi"), (9, "vm-trixie"), (9, "vm-v2")))
    task = "  30   │ * [vm-v2] => rock5b.oom.sysctl_profile : Write the drop-in\n" if idempotence_changed else ""
    return ("    1 INFO     vm ➜ create: Executing\n   2   │ localhost : ok=2    changed=2    unreachable=0    failed=0\n"
            "    3 INFO     vm ➜ create: Executed: Successful\n"
            "    4 \x1b[32mINFO\x1b[0m     vm ➜ converge: Executing\n" + recap(4) + "   10 INFO     vm ➜ converge: Executed: Successful\n"
            "   11 INFO     vm ➜ idempotence: Executing\n" + recap(idempotence_changed) + task
            + "   20 INFO     vm ➜ idempotence: Executed: Successful\n"
            "   21 INFO     vm ➜ verify: Executing\n   22 INFO     vm ➜ verify: Executing Testinfra tests found in x\n"
            "   23 INFO     vm ➜ verify: Executed: Successful\n"
            "   24 INFO     vm ➜ converge: Executing\n" + recap(1, failed=1) + "   30 ERROR    vm ➜ converge: Executed: Failed\n"
            "DETAILS\nvm ➜ converge: Executed: Successful\n")


def test_molecule_log_gives_converge_and_idempotence_per_vm(tmp_path, doc):
    results, readme = write_doc(tmp_path, doc)
    log = tmp_path / "vm-test.log"
    log.write_text(molecule_log(idempotence_changed=2))
    assert feature_table.main([str(results), "--molecule-log", str(log), "--readme", str(readme)]) == 0
    rows = table_rows(readme.read_text())
    assert rows[1] == ["converge", "tested", "tested", "fails (converge #2: failed=1)"]
    assert rows[2] == ["idempotence", "fails (idempotence #1: changed=2 on the second run: rock5b.oom.sysctl_profil…)",
                       "tested", "tested"]
    assert rows[3][0] == "OOM drill"
    # saved into the JSON (and results-latest.json): --check needs nothing but the JSON
    saved = json.loads(results.read_text())
    assert saved == json.loads((tmp_path / "results-latest.json").read_text())
    assert [r["test"] for r in saved["results"] if r["host"] == "vm-v2" and r["source"] == "molecule"] == [
        "molecule converge #1", "molecule idempotence #1", "molecule converge #2"]
    assert feature_table.main([str(results), "--readme", str(readme), "--check"]) == 0
    # merging again replaces the molecule records instead of adding to them
    assert feature_table.main([str(results), "--molecule-log", str(log), "--readme", str(readme)]) == 0
    assert json.loads(results.read_text()) == saved


def test_converge_failing_before_verify_still_gives_a_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    log = tmp_path / "vm-test.log"
    log.write_text("    4 INFO     vm ➜ converge: Executing\n  8   │ ERROR! the role 'x' was not found\n"
                   "    9 ERROR    vm ➜ converge: Executed: Failed\n")
    results = tmp_path / "results-x.json"
    assert feature_table.main([str(results), "--readme", str(readme)]) == 2  # no JSON, no log: nothing to say
    assert feature_table.main([str(results), "--molecule-log", str(log), "--readme", str(readme)]) == 0
    assert json.loads(results.read_text())["results"] == []  # no VM known, none invented
    assert "| converge |" not in readme.read_text()


FAKE_CONFTEST = """
import pytest
import vm_results

FACTS = {"vm-a": "codename=bookworm\\nkernel=6.1.0-28-arm64\\ncgroup_fs=cgroup2fs\\npsi=yes\\n",
         "vm-b": "codename=trixie\\nkernel=6.12.48+deb13-arm64\\ncgroup_fs=cgroup2fs\\npsi=yes\\n"}
MODES = {"vm-a": "v1", "vm-b": "v2"}


def pytest_configure(config):
    vm_results.register(config)
    vm_results.set_platforms(config, list(MODES.items()))
    config.addinivalue_line("markers", "vm_modes(*modes): only there")
    config.addinivalue_line("markers", "optional: deselected")


def pytest_generate_tests(metafunc):
    if "vm" in metafunc.fixturenames:
        names = list(MODES)
        marker = metafunc.definition.get_closest_marker("vm_modes")
        if marker is not None:
            for name in names:
                if MODES[name] not in marker.args:
                    vm_results.not_applicable(metafunc.config, metafunc.definition, name, f"{MODES[name]} VM")
            names = [n for n in names if MODES[n] in marker.args]
        metafunc.parametrize("vm", names, indirect=True, ids=names)


def pytest_collection_modifyitems(config, items):
    drop = [i for i in items if i.get_closest_marker("optional")]
    for item in drop:
        vm_results.deselect_reason(item, "optional not enabled")
    config.hook.pytest_deselected(items=drop)
    items[:] = [i for i in items if i not in drop]


@pytest.fixture
def vm(request):
    vm_results.describe_platform(request.config, request.param, MODES[request.param],
                                 vm_results.parse_facts(FACTS[request.param]))
    return request.param
"""

FAKE_TESTS = """
import pytest

pytestmark = pytest.mark.feature("drill")


def test_passes(vm):
    pass


def test_fails_on_b(vm):
    assert vm != "vm-b", "victim not named\\nsecond line"


@pytest.mark.feature("boot files")
def test_skips_on_a(vm):
    if vm == "vm-a":
        pytest.skip("no boot files on vm-a")


@pytest.mark.feature("v2 only")
@pytest.mark.vm_modes("v2")
def test_v2_only(vm):
    pass


@pytest.fixture
def broken():
    raise RuntimeError("ssh went away")


@pytest.mark.feature("setup")
def test_setup_error(vm, broken):
    pass


@pytest.mark.feature("optional")
@pytest.mark.optional
def test_optional(vm):
    pass


def test_no_feature_marker_of_its_own(vm):
    pass
"""


def test_plugin_records_outcomes_and_reasons_per_vm(pytester, tmp_path, monkeypatch):
    pytester.syspathinsert(VM_TESTS)
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makepyfile(test_fake=FAKE_TESTS)
    out = tmp_path / "out" / "results-run.json"
    monkeypatch.setenv("VM_RESULTS_JSON", str(out))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=7, failed=1, skipped=1, errors=2, deselected=2)
    doc = json.loads(out.read_text())
    assert json.loads((out.parent / "results-latest.json").read_text()) == doc
    got = {(r["test"].split("::")[1], r["host"]): (r["feature"], r["outcome"], r["reason"]) for r in doc["results"]}
    assert got == {
        ("test_passes[vm-a]", "vm-a"): ("drill", "passed", ""),
        ("test_passes[vm-b]", "vm-b"): ("drill", "passed", ""),
        ("test_fails_on_b[vm-a]", "vm-a"): ("drill", "passed", ""),
        ("test_fails_on_b[vm-b]", "vm-b"): ("drill", "failed", "AssertionError: victim not named"),
        ("test_skips_on_a[vm-a]", "vm-a"): ("boot files", "skipped", "no boot files on vm-a"),
        ("test_skips_on_a[vm-b]", "vm-b"): ("boot files", "passed", ""),
        ("test_v2_only[vm-a]", "vm-a"): ("v2 only", "not_applicable", "v1 VM"),
        ("test_v2_only[vm-b]", "vm-b"): ("v2 only", "passed", ""),
        ("test_setup_error[vm-a]", "vm-a"): ("setup", "failed", "error in setup: RuntimeError: ssh went away"),
        ("test_setup_error[vm-b]", "vm-b"): ("setup", "failed", "error in setup: RuntimeError: ssh went away"),
        ("test_optional[vm-a]", "vm-a"): ("optional", "deselected", "optional not enabled"),
        ("test_optional[vm-b]", "vm-b"): ("optional", "deselected", "optional not enabled"),
        ("test_no_feature_marker_of_its_own[vm-a]", "vm-a"): ("drill", "passed", ""),
        ("test_no_feature_marker_of_its_own[vm-b]", "vm-b"): ("drill", "passed", ""),
    }
    assert doc["features"] == ["drill", "boot files", "v2 only", "setup", "optional"]
    assert [(p["name"], p["vm_mode"], p["label"]) for p in doc["platforms"]] == [
        ("vm-a", "v1", "bookworm 6.1 v2"), ("vm-b", "v2", "trixie 6.12 v2")]
    assert all(p["seconds"] >= 0 for p in doc["platforms"]) and doc["commit"] and doc["date"]
    rows = table_rows(feature_table.render(doc))
    assert rows[0] == ["feature", "bookworm 6.1 v2", "trixie 6.12 v2"]
    assert rows[1] == ["drill", "tested", "fails (AssertionError: victim not named)"]
    assert rows[2] == ["boot files", "not applicable (no boot files on vm-a)", "tested"]
    assert rows[3] == ["v2 only", "not applicable (v1 VM)", "tested"]


def test_plugin_labels_a_test_without_feature(pytester, tmp_path, monkeypatch):
    pytester.syspathinsert(VM_TESTS)
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makepyfile(test_bare="def test_bare(vm):\n    pass\n")
    out = tmp_path / "results.json"
    monkeypatch.setenv("VM_RESULTS_JSON", str(out))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert {r["feature"] for r in json.loads(out.read_text())["results"]} == {"unlabelled: test_bare.py"}


def _marks(decorators):
    """Names of pytest.mark.feature(...) calls among decorators / a pytestmark value."""
    found = []
    for node in decorators:
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "feature":
                found.append(ast.literal_eval(call.args[0]))
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in VM_TESTS.glob("test_*.py")))
def test_every_vm_test_declares_its_feature(module):
    tree = ast.parse((VM_TESTS / module).read_text())
    module_mark = [_marks([n.value]) for n in tree.body if isinstance(n, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)]
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert tests, module
    for test in tests:
        assert _marks(test.decorator_list) or any(module_mark), f"{module}::{test.name} has no feature marker"


def test_results_path_default_and_env(monkeypatch):
    monkeypatch.delenv("VM_RESULTS_JSON", raising=False)
    monkeypatch.setenv("ROCK5B_CACHE", "/c")
    import datetime  # pylint: disable=import-outside-toplevel
    when = datetime.datetime(2026, 12, 6, 1, 2, 3, tzinfo=datetime.timezone.utc)
    assert vm_results.default_path(when) == pathlib.Path("/c/vm/logs/results-20261206-010203.json")
    monkeypatch.setenv("VM_RESULTS_JSON", os.path.join("/x", "r.json"))
    assert vm_results.default_path(when) == pathlib.Path("/x/r.json")
