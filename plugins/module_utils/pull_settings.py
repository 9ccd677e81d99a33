# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pull timer's settings (rock5b.oom.self_heal): which values a board may be given.

A board runs what it pulls as root, every interval, unattended. So the source must be
authenticated (no http://, git://, or git remote helpers such as ext::), its credentials must
not sit in a world-readable unit (no user:token@ in the URL: a deploy key instead), and every
value written into the units must be one systemd reads back as written. Each rule is a function
returning a message that names the variable, or None; ``problems`` checks a whole settings dict
(the role's variable names as keys) and returns every message, in order.
"""

from __future__ import annotations

import os
import re
import shlex

from ansible_collections.rock5b.oom.plugins.module_utils import paths

CONTROL = paths.CONTROL
# systemd time spans (systemd.time(7)): "10min", "1h 30min", "90", "2.5s"; timeouts also "infinity".
TIME_UNITS = ("usec", "us", "\u00b5s", "msec", "ms", "seconds", "second", "sec", "s", "minutes",
              "minute", "min", "m", "hours", "hour", "hr", "h", "days", "day", "d", "weeks", "week",
              "w", "months", "month", "M", "years", "year", "y")
# ASCII digits only: systemd reads no others ("\u0663\u0660min" passed Python's \\d).
TIME_SPAN = re.compile(r"\A *(?:[0-9]+(?:\.[0-9]+)? *(?:%s)? *)+\Z" % "|".join(TIME_UNITS))
TIME_TOKEN = re.compile(r"([0-9]+(?:\.[0-9]+)?) *(%s)?" % "|".join(sorted(TIME_UNITS, key=len, reverse=True)))
# Seconds per unit (systemd's time-util.c: a month is 30.44 days, a year 365.25), and the largest
# span systemd parses: USEC_INFINITY (2^64-1 microseconds) is "infinity", past it is an error.
_MINUTE, _HOUR, _DAY = 60, 3600, 86400
TIME_UNIT_SECONDS = dict(
    [(unit, 1e-6) for unit in ("usec", "us", "\u00b5s")] + [(unit, 1e-3) for unit in ("msec", "ms")]
    + [(unit, 1) for unit in ("seconds", "second", "sec", "s")] + [(unit, _MINUTE) for unit in ("minutes", "minute", "min", "m")]
    + [(unit, _HOUR) for unit in ("hours", "hour", "hr", "h")] + [(unit, _DAY) for unit in ("days", "day", "d")]
    + [(unit, 7 * _DAY) for unit in ("weeks", "week", "w")] + [(unit, 2629800) for unit in ("months", "month", "M")]
    + [(unit, 31557600) for unit in ("years", "year", "y")])
LARGEST_TIME_SPAN_S = (2 ** 64 - 2) / 1e6
TIME_SPAN_VARIABLES = ("self_heal_on_boot_sec", "self_heal_interval", "self_heal_randomized_delay", "self_heal_timeout")
# OpenSSH public keys, as in an allowed_signers file: "<type> <base64> [comment]".
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                 "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
SSH_PUBLIC_KEY = re.compile(r"\A(?:%s) [A-Za-z0-9+/]+={0,3}(?: [^\x00-\x1f\x7f]*)?\Z" % "|".join(re.escape(t) for t in SSH_KEY_TYPES))
# scp-like ssh address: [user@]host:path (no "://", no slash before the first colon).
SCP_LIKE = re.compile(r"\A(?:(?P<user>[^@/:]+)@)?(?P<host>[A-Za-z0-9.\[\]_-]+):(?P<path>.+)\Z")
URL = re.compile(r"\A(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)\Z")
ACCEPTED_SCHEMES = ("https", "ssh", "file")
URL_FORMS = "https://host/path, ssh://[user@]host/path, user@host:path, /absolute/path or file:///absolute/path"
CREDENTIALS_ADVICE = ("credentials in the URL end up in the world-readable unit and in logs: use an SSH deploy key "
                      "(self_heal_deploy_key, with an ssh:// or user@host:path URL) instead")


def repo_url_kind(url):
    """'https', 'ssh', 'file' or None (not a form the pull timer accepts) for a git URL."""
    match = URL.match(url)
    if match:
        scheme = match.group("scheme").lower()
        return scheme if scheme in ACCEPTED_SCHEMES else None
    if url.startswith("/"):
        return "file"
    if "::" not in url and SCP_LIKE.match(url):
        return "ssh"
    return None


def _redacted(url):
    """``url`` with anything before an '@' in its host part hidden: a message never shows a secret."""
    return re.sub(r"\A((?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/@]*@", r"\1***@", url)


def repo_url_problem(url, variable="self_heal_repo_url"):
    """Why ``url`` may not be the pull source (scheme, credentials, form), or None. Never shows credentials."""
    if not isinstance(url, str):
        return "%s must be a string, got %s" % (variable, type(url).__name__)
    problem = _repo_url_problem(url, variable)
    return problem.replace(repr(url), repr(_redacted(url))) if problem else None


def _repo_url_problem(url, variable):
    if not url or CONTROL.search(url) or url != url.strip() or " " in url:
        return "%s must be one git URL without spaces or control characters, got %r" % (variable, url)
    if url.startswith("-"):
        return "%s must not start with '-' (git would read it as an option), got %r" % (variable, url)
    match = URL.match(url)
    scheme = match.group("scheme").lower() if match else None
    at = url.find("@")
    if not match and 0 < at < url.find(":", at) and ":" in url[:at]:
        return "%s must not carry credentials (user:password@host:path): %s" % (variable, CREDENTIALS_ADVICE)
    if scheme in ("http", "git"):
        return ("%s uses %s://, which is not authenticated: anyone on the path could hand the boards code they "
                "run as root; use %s" % (variable, scheme, URL_FORMS))
    kind = repo_url_kind(url)
    if kind is None:
        return "%s must be one of %s, got %r" % (variable, URL_FORMS, url)
    if match:
        authority = match.group("authority")
        if kind == "file" and authority not in ("", "localhost"):
            return "%s: a file:// URL names a path on the board (file:///path), got %r" % (variable, url)
        if kind == "file" and not match.group("rest").startswith("/"):
            return "%s: a file:// URL needs an absolute path (file:///path), got %r" % (variable, url)
        userinfo = authority.rpartition("@")[0] if "@" in authority else None
        if userinfo is not None and (kind == "https" or ":" in userinfo):
            return "%s must not carry credentials (%s://<user or token>@...): %s" % (variable, scheme, CREDENTIALS_ADVICE)
        host = authority.rpartition("@")[2]
        if kind != "file" and (not host or host.startswith("-")):
            return "%s needs a host name (not empty, not starting with '-'), got %r" % (variable, url)
    elif kind == "ssh":
        if SCP_LIKE.match(url).group("host").startswith("-"):
            return "%s: the host must not start with '-', got %r" % (variable, url)
    return None


def branch_problem(branch, variable="self_heal_branch"):
    """Why ``branch`` is not a branch name git accepts (git check-ref-format --branch), or None."""
    if not isinstance(branch, str) or not branch:
        return "%s must be a non-empty branch name, got %r" % (variable, branch)
    bad = (CONTROL.search(branch) or re.search(r"[ ~^:?*\[\\]", branch) or ".." in branch or "@{" in branch
           or "//" in branch or branch.startswith(("-", "/", ".")) or branch.endswith(("/", ".", ".lock"))
           or "/." in branch or branch == "@")
    if bad:
        return "%s must be a git branch name (no spaces, ~^:?*[\\, '..', '@{', control characters), got %r" % (variable, branch)
    return None


def text_problem(value, variable):
    """Why ``value`` cannot be one line of a unit (not a non-empty string, or a control character), or None."""
    if not isinstance(value, str) or not value:
        return "%s must be a non-empty string, got %r" % (variable, value)
    if CONTROL.search(value):
        return "%s must not contain control characters (newlines, tabs), got %r" % (variable, value)
    return None


def time_span_problem(value, variable):
    """Why ``value`` is not a systemd time span (systemd.time(7); V(infinity) for the timeout), or None."""
    if variable == "self_heal_timeout" and value == "infinity":
        return None
    if not isinstance(value, str) or not TIME_SPAN.match(value) or not value.strip():
        return "%s must be a systemd time span such as 10min, 1h 30min or 90s, got %r" % (variable, value)
    seconds = sum(float(number) * TIME_UNIT_SECONDS[unit or "s"] for number, unit in TIME_TOKEN.findall(value))
    if seconds > LARGEST_TIME_SPAN_S:
        return "%s is longer than systemd can read (about 584542 years), got %r" % (variable, value)
    return None


def signing_key_problem(key, variable="self_heal_signing_keys"):
    """Why ``key`` is not one OpenSSH public key line (type, base64, optional comment), or None."""
    if not isinstance(key, str) or not SSH_PUBLIC_KEY.match(key.strip()):
        return ("%s: each entry must be one OpenSSH public key ('ssh-ed25519 AAAA... comment', the .pub file), got %r"
                % (variable, key if not isinstance(key, str) else key[:60]))
    return None


# Debian package names (Debian Policy 5.6.1), with apt's optional :arch and =version or >=version.
DEB_PACKAGE = re.compile(r"\A[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?(?:>?=[A-Za-z0-9.+:~*-]+)?\Z")
# A release of a Python package as pip pins it (PEP 440, public versions, ASCII digits).
PEP440_VERSION = re.compile(r"\A[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?\Z")
# A requirement pip reads as one (PEP 508): name, extras, version specifiers, an environment marker.
_SPECIFIER = r"(?:===|~=|==|!=|<=|>=|<|>) *[A-Za-z0-9.*+!_-]+ *"
PIP_REQUIREMENT = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._, -]+\])? *"
                             r"(?:%s(?:, *%s)*)?(?:; *[^\x00-\x1f\x7f;]+)?\Z" % (_SPECIFIER, _SPECIFIER))


def playbook_problem(path, variable="self_heal_playbook"):
    """Why ``path`` is not a playbook inside the checkout (relative, no '..', '.' or empty parts), or None."""
    problem = text_problem(path, variable)
    if problem:
        return problem
    if os.path.isabs(path) or any(part in ("", ".", "..") for part in path.split("/")):
        return "%s must be a path inside the checkout, relative and without '..' or '.', got %r" % (variable, path)
    return None


def package_problem(name, variable):
    """Why ``name`` is not a Debian package apt installs (name[:arch][=version]), or None."""
    if not isinstance(name, str) or not DEB_PACKAGE.match(name):
        return "%s must be a Debian package name (lowercase letters, digits, +.-; :arch and =version allowed), got %r" % (variable, name)
    return None


def version_problem(version, variable="self_heal_ansible_core_version"):
    """Why ``version`` is not one release pip can pin (PEP 440: 2.19.14, 2.20.0rc1), or None."""
    if not isinstance(version, str) or not PEP440_VERSION.match(version):
        return "%s must be one release such as 2.19.14 (PEP 440, ASCII digits), got %r" % (variable, version)
    return None


def requirement_problem(requirement, variable):
    """Why ``requirement`` is not one PEP 508 requirement (never a pip option), or None."""
    if not isinstance(requirement, str) or not PIP_REQUIREMENT.match(requirement):
        return ("%s must be one requirement such as 'cryptography<51' (a package name, version specifiers, "
                "an optional '; marker'; never a pip option), got %r" % (variable, requirement))
    return None


def pip_args_problem(args, variable="self_heal_pip_extra_args"):
    """Why ``args`` is not one line of options pip can split as a shell would (balanced quotes), or None."""
    if not isinstance(args, str) or CONTROL.search(args):
        return "%s must be one line of pip options, got %r" % (variable, args)
    try:
        shlex.split(args)
    except ValueError as error:
        return "%s cannot be split into pip options (%s), got %r" % (variable, error, args)
    return None


def _source_problems(settings):
    url = settings.get("self_heal_repo_url") or ""
    bundle = settings.get("self_heal_bundle_source") or ""
    if bool(url) == bool(bundle):
        yield ("self_heal_repo_url, self_heal_bundle_source: set exactly one of them (a git URL, or a repo on the "
               "controller)")
    if url:
        yield repo_url_problem(url)
    if bundle:
        yield paths.absolute_problem(bundle, "self_heal_bundle_source", " on the controller")
    if settings.get("self_heal_deploy_key") and (bundle or repo_url_kind(url) != "ssh"):
        yield "self_heal_deploy_key needs an ssh URL in self_heal_repo_url (ssh://host/path or user@host:path)"
    if "self_heal_branch" in settings:
        yield branch_problem(settings["self_heal_branch"])


def _key_problems(settings):
    keys = settings.get("self_heal_signing_keys") or []
    if not isinstance(keys, list):
        yield "self_heal_signing_keys must be a list of OpenSSH public keys, got %s" % type(keys).__name__
        return
    for index, key in enumerate(keys):
        problem = signing_key_problem(key, "self_heal_signing_keys[%d]" % index)
        if problem:
            yield problem


def problems(settings):
    """Every problem of the pull timer's ``settings`` (role variable name -> value), each naming its variable."""
    found = list(_source_problems(settings)) + list(_key_problems(settings))
    for variable in ("self_heal_dir", "self_heal_venv", "self_heal_python_interpreter"):
        if variable in settings:
            found.append(paths.unit_path_problem(settings[variable], variable))
    for index, path in enumerate(p for p in (settings.get("self_heal_collections_path") or "").split(":") if p):
        found.append(paths.unit_path_problem(path, "self_heal_collections_path (entry %d)" % index))
    if "self_heal_playbook" in settings:
        found.append(playbook_problem(settings["self_heal_playbook"]))
    for index, arg in enumerate(settings.get("self_heal_extra_args") or []):
        found.append(text_problem(arg, "self_heal_extra_args[%d]" % index))
    for variable in TIME_SPAN_VARIABLES:
        if variable in settings:
            found.append(time_span_problem(settings[variable], variable))
    found += _install_problems(settings)
    return [problem for problem in found if problem]


def _install_problems(settings):
    """What installs ansible-core on the board: apt packages, the pip pins, the controller's cache."""
    found = []
    for index, name in enumerate(settings.get("self_heal_packages") or []):
        found.append(package_problem(name, "self_heal_packages[%d]" % index))
    if "self_heal_ansible_core_version" in settings:
        found.append(version_problem(settings["self_heal_ansible_core_version"]))
    for index, requirement in enumerate(settings.get("self_heal_ansible_core_constraints") or []):
        found.append(requirement_problem(requirement, "self_heal_ansible_core_constraints[%d]" % index))
    if "self_heal_controller_cache" in settings:
        found.append(paths.absolute_problem(settings["self_heal_controller_cache"], "self_heal_controller_cache", " on the controller"))
    if "self_heal_pip_extra_args" in settings:
        found.append(pip_args_problem(settings["self_heal_pip_extra_args"]))
    return found
