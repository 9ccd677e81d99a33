"""pull_settings: the pull timer's rules, each message naming its variable."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.paths import unit_path_problem
from ansible_collections.rock5b.oom.plugins.module_utils.pull_settings import (
    branch_problem, problems, repo_url_kind, repo_url_problem, signing_key_problem, time_span_problem)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3rPrK0xZk3m8Yv2gJxq8b0l8p6Xy3bQv0t3o2rZ0x release@ci"
GOOD = {
    "self_heal_repo_url": "https://git.example.com/infra/rock5b-oom.git", "self_heal_bundle_source": "",
    "self_heal_deploy_key": "", "self_heal_branch": "main", "self_heal_playbook": "playbooks/site.yml",
    "self_heal_dir": "/var/lib/rock5b-oom-pull", "self_heal_venv": "/opt/rock5b-oom-pull/venv",
    "self_heal_python_interpreter": "/usr/bin/python3", "self_heal_collections_path": "",
    "self_heal_extra_args": ["--skip-tags", "monitor", "-e", "x=50% of $HOME"], "self_heal_signing_keys": [KEY],
    "self_heal_on_boot_sec": "10min", "self_heal_interval": "1h 30min", "self_heal_randomized_delay": "15min",
    "self_heal_timeout": "infinity", "self_heal_packages": ["git", "python3-venv", "python3-apt:arm64", "tzdata=2025a-1"],
    "self_heal_ansible_core_version": "2.19.14", "self_heal_ansible_core_constraints": ["cryptography<51", "jinja2>=3.1,<4",
                                                                                        "pyyaml; python_version >= '3.8'"],
    "self_heal_controller_cache": "/home/ops/.cache/rock5b-oom-self-heal", "self_heal_pip_extra_args": "--timeout 30 --retries '3'",
}


@pytest.mark.parametrize("url, kind", [
    ("https://git.example.com/infra/x.git", "https"),
    ("https://git.example.com/infra/50%25-off.git", "https"),
    ("ssh://git@git.example.com:2222/infra/x.git", "ssh"),
    ("git@github.com:infra/x.git", "ssh"),
    ("/srv/git/x.git", "file"),
    ("file:///var/lib/rock5b-oom-pull/source.git", "file"),
])
def test_accepted_urls(url, kind):
    assert repo_url_problem(url) is None
    assert repo_url_kind(url) == kind


@pytest.mark.parametrize("url, words", [
    ("http://git.example.com/x.git", ["http://", "not authenticated"]),
    ("git://git.example.com/x.git", ["git://", "not authenticated"]),
    ("HTTP://git.example.com/x.git", ["http://"]),
    ("https://user:token@git.example.com/x.git", ["credentials", "self_heal_deploy_key"]),
    ("https://ghp_token@github.com/x.git", ["credentials", "self_heal_deploy_key"]),
    ("ssh://git:secret@git.example.com/x.git", ["credentials"]),
    ("git:secret@git.example.com:x.git", ["credentials"]),
    ("ext::sh -c touch% /tmp/pwned", ["spaces"]),
    ("ext::sh", ["must be one of"]),
    ("fd::17", ["must be one of"]),
    ("ftp://example.com/x.git", ["must be one of"]),
    ("relative/path", ["must be one of"]),
    ("-oProxyCommand=evil:x", ["'-'"]),
    ("ssh://-oProxyCommand=evil/x", ["host"]),
    ("file://otherhost/x.git", ["file:///path"]),
    ("https://git.example.com/x.git\nExecStartPost=/bin/evil", ["control characters"]),
    ("", ["one git URL"]),
])
def test_refused_urls_name_the_variable(url, words):
    problem = repo_url_problem(url)
    assert problem and problem.startswith("self_heal_repo_url")
    for word in words:
        assert word in problem


def test_valid_settings_have_no_problems():
    assert problems(GOOD) == []
    assert problems({}) == ["self_heal_repo_url, self_heal_bundle_source: set exactly one of them "
                            "(a git URL, or a repo on the controller)"]


@pytest.mark.parametrize("change, variable", [
    ({"self_heal_bundle_source": "/srv/repo"}, "self_heal_repo_url"),
    ({"self_heal_deploy_key": "/home/me/.ssh/deploy"}, "self_heal_deploy_key"),
    ({"self_heal_branch": "main\nExecStartPost=/bin/evil"}, "self_heal_branch"),
    ({"self_heal_branch": "-main"}, "self_heal_branch"),
    ({"self_heal_branch": "a..b"}, "self_heal_branch"),
    ({"self_heal_playbook": "site.yml\n[Service]"}, "self_heal_playbook"),
    ({"self_heal_dir": "var/lib/x"}, "self_heal_dir"),
    ({"self_heal_dir": "/var/lib/my pull"}, "self_heal_dir"),
    ({"self_heal_dir": "/var/lib/a:b"}, "self_heal_dir"),
    ({"self_heal_venv": "/opt/$venv"}, "self_heal_venv"),
    ({"self_heal_venv": "/opt/../venv"}, "self_heal_venv"),
    ({"self_heal_python_interpreter": "python3"}, "self_heal_python_interpreter"),
    ({"self_heal_collections_path": "/a:rel/b"}, "self_heal_collections_path (entry 1)"),
    ({"self_heal_extra_args": ["-v", "a\nb"]}, "self_heal_extra_args[1]"),
    ({"self_heal_signing_keys": [KEY, "not a key"]}, "self_heal_signing_keys[1]"),
    ({"self_heal_signing_keys": KEY}, "self_heal_signing_keys"),
    ({"self_heal_on_boot_sec": "10 minutes later"}, "self_heal_on_boot_sec"),
    ({"self_heal_interval": "30min\nExecStart=/bin/evil"}, "self_heal_interval"),
    ({"self_heal_randomized_delay": ""}, "self_heal_randomized_delay"),
    ({"self_heal_timeout": "%n"}, "self_heal_timeout"),
])
def test_each_bad_value_is_named(change, variable):
    found = problems(dict(GOOD, **change))
    assert len(found) == 1 and found[0].startswith(variable), found


@pytest.mark.parametrize("url", ["ftp://user:hunter2@example.com/x.git", "ssh://git:hunter2@example.com/x.git",
                                 "git:hunter2@example.com:x", "http://user:hunter2@example.com/x.git",
                                 "https://hunter2@example.com/x.git", "ext::user:hunter2@x"])
def test_a_message_never_shows_the_secret(url):
    problem = repo_url_problem(url)
    assert problem and "hunter2" not in problem


def test_deploy_key_with_an_ssh_url_is_fine_and_all_problems_are_reported_at_once():
    assert problems(dict(GOOD, self_heal_repo_url="git@git.example.com:infra/x.git", self_heal_deploy_key="/k")) == []
    found = problems(dict(GOOD, self_heal_repo_url="http://x/y", self_heal_branch="a b", self_heal_interval="soon"))
    assert [p.split(" ")[0] for p in found] == ["self_heal_repo_url", "self_heal_branch", "self_heal_interval"]


@pytest.mark.parametrize("value", ["10min", "1h 30min", "90", "2.5s", "1d", "5 min"])
def test_time_spans(value):
    assert time_span_problem(value, "self_heal_interval") is None


def test_single_rules():
    assert branch_problem("release/2025.1") is None
    assert unit_path_problem("/var/lib/rock5b-oom-pull", "self_heal_dir") is None
    assert "self_heal_dir" in unit_path_problem("/var/lib/x/", "self_heal_dir")
    assert signing_key_problem(KEY) is None and signing_key_problem(KEY.rsplit(" ", 1)[0]) is None
    assert signing_key_problem(KEY + "\nssh-ed25519 AAAA second")


@pytest.mark.parametrize("change, variable", [
    ({"self_heal_bundle_source": "../infra", "self_heal_repo_url": ""}, "self_heal_bundle_source"),
    ({"self_heal_playbook": "../../../tmp/x.yml"}, "self_heal_playbook"),
    ({"self_heal_playbook": "/tmp/x.yml"}, "self_heal_playbook"),
    ({"self_heal_playbook": "playbooks/./site.yml"}, "self_heal_playbook"),
    ({"self_heal_packages": ["git; rm -rf /"]}, "self_heal_packages[0]"),
    ({"self_heal_packages": ["git", ""]}, "self_heal_packages[1]"),
    ({"self_heal_packages": ["-o=APT::Get::AllowUnauthenticated=1"]}, "self_heal_packages[0]"),
    ({"self_heal_ansible_core_version": "latest"}, "self_heal_ansible_core_version"),
    ({"self_heal_ansible_core_version": "\u0662.\u0661\u0669"}, "self_heal_ansible_core_version"),
    ({"self_heal_ansible_core_version": ""}, "self_heal_ansible_core_version"),
    ({"self_heal_ansible_core_constraints": ["--index-url=http://pypi.example.org/simple"]}, "self_heal_ansible_core_constraints[0]"),
    ({"self_heal_ansible_core_constraints": [""]}, "self_heal_ansible_core_constraints[0]"),
    ({"self_heal_ansible_core_constraints": ["jinja2<4 --pre"]}, "self_heal_ansible_core_constraints[0]"),
    ({"self_heal_controller_cache": ""}, "self_heal_controller_cache"),
    ({"self_heal_controller_cache": ".cache/x"}, "self_heal_controller_cache"),
    ({"self_heal_controller_cache": "/home/ops/../../tmp"}, "self_heal_controller_cache"),
    ({"self_heal_pip_extra_args": "--timeout '30"}, "self_heal_pip_extra_args"),
    ({"self_heal_pip_extra_args": "--timeout 30\n--pre"}, "self_heal_pip_extra_args"),
    ({"self_heal_interval": "\u0663\u0660min"}, "self_heal_interval"),
    ({"self_heal_on_boot_sec": "1180591620717411303424h"}, "self_heal_on_boot_sec"),
    ({"self_heal_timeout": "600000 years"}, "self_heal_timeout"),
])
def test_each_typo_in_the_install_settings_is_named(change, variable):
    """Found by the bad-input corpus: these passed the role's checks, so the role went on to install."""
    found = problems(dict(GOOD, **change))
    assert len(found) == 1 and found[0].startswith(variable), found


@pytest.mark.parametrize("value", ["500000 years", "1y", "2.5h", "0", "18446744073s"])
def test_long_time_spans_systemd_reads_are_fine(value):
    assert time_span_problem(value, "self_heal_on_boot_sec") is None


def test_the_role_hands_every_checked_variable_to_the_rules():
    import os
    import yaml
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "self_heal", "vars", "main.yml")
    with open(path, encoding="utf-8") as handle:
        checked = yaml.safe_load(handle)["self_heal__problems"]
    missing = [variable for variable in GOOD if "'%s': %s" % (variable, variable) not in checked]
    assert not missing, missing
