"""The systemd_exec filter: systemd reads back from ExecStart= exactly the list it was given."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ansible.errors import AnsibleFilterError

from ansible_collections.rock5b.oom.plugins.filter import systemd_exec as systemd_exec_module
from ansible_collections.rock5b.oom.plugins.filter.systemd_exec import FilterModule, systemd_exec

from systemd_exec_reader import read_exec  # noqa: E402 (next to this file)

TRICKY = [
    "https://git.example.com/infra/50%25-off.git",   # a percent-encoded URL: '%2' is no specifier
    "--extra-vars=home=$HOME ${USER}",               # not the service's variables
    '{"repo": "file:///var/lib/x", "force": true}',  # the git step's JSON
    "it's \"quoted\"", "back\\slash", "a;b", ";", "", " lead", "tab\there", "new\nline",
    "%n %i %%", "$$", "\\x41", "ümlaut", "#not-a-comment", "trailing\\",
]


def test_plain_words_stay_readable():
    assert systemd_exec(["/opt/venv/bin/ansible-playbook", "--limit", "localhost", "playbooks/site.yml"]) \
        == "/opt/venv/bin/ansible-playbook --limit localhost playbooks/site.yml"


@pytest.mark.parametrize("arg", TRICKY)
def test_systemd_reads_back_each_tricky_argument(arg):
    line = systemd_exec(["/bin/echo", arg, "next"])
    assert read_exec(line) == ["/bin/echo", arg, "next"]
    assert "\n" not in line and not line.endswith("\\")


def test_specifiers_and_variables_are_escaped_and_json_is_quoted_readably():
    assert systemd_exec(["/bin/echo", "50%", "$HOME"]) == "/bin/echo 50%% $$HOME"
    assert systemd_exec(["/bin/echo", '{"a": 1}']) == "/bin/echo '{\"a\": 1}'"
    assert systemd_exec(["/bin/echo", ";", ""]) == '/bin/echo ";" ""'


@given(st.lists(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))), max_size=6))
def test_any_arguments_round_trip(args):
    argv = ["/opt/rock5b-oom-pull/venv/bin/ansible"] + args
    line = systemd_exec(argv)
    assert read_exec(line) == argv
    assert not any(c in line for c in "\n\r\x00")


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_itself_loads_the_unit(tmp_path):
    """systemd-analyze verify parses the unit (read-only: it starts nothing) and finds no bad setting."""
    unit = tmp_path / "rock5b-exec-check.service"
    unit.write_text("[Unit]\nDescription=check\n[Service]\nType=oneshot\nExecStart=%s\n"
                    % systemd_exec(["/bin/true"] + TRICKY))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and str(unit) not in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv, message", [
    ("/bin/true", "expects a non-empty list"),
    ([], "expects a non-empty list"),
    ({"a": 1}, "expects a non-empty list"),
    (["bin/true"], "absolute path"),
    (["-/bin/true"], "absolute path"),
    (["/opt/$VENV/bin/x"], "without '\\$'"),
    (["/bin/true", None], "argument 1 is not a string but NoneType"),
    (["/bin/true", True], "argument 1 is not a string but bool"),
    (["/bin/true", "a\x00b"], "NUL"),
])
def test_refuses_what_systemd_cannot_run(argv, message):
    with pytest.raises(AnsibleFilterError, match=message):
        systemd_exec(argv)


def test_numbers_are_arguments_too():
    assert read_exec(systemd_exec(["/bin/sleep", 5])) == ["/bin/sleep", "5"]


def test_registered_and_documented():
    assert FilterModule().filters()["systemd_exec"] is systemd_exec
    doc = yaml.safe_load(systemd_exec_module.DOCUMENTATION)
    assert doc["name"] == "systemd_exec" and set(doc["options"]) == {"_input"}
    assert yaml.safe_load(systemd_exec_module.RETURN)["_value"]["type"] == "str"
    assert "rock5b.oom.systemd_exec" in systemd_exec_module.EXAMPLES
