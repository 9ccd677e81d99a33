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

import re

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A path written into a unit and into ANSIBLE_COLLECTIONS_PATH (':'-separated): absolute, plain.
UNIT_PATH = re.compile(r"\A(/[A-Za-z0-9._+@-]+)+\Z")
# systemd time spans (systemd.time(7)): "10min", "1h 30min", "90", "2.5s"; timeouts also "infinity".
TIME_UNITS = ("usec", "us", "\u00b5s", "msec", "ms", "seconds", "second", "sec", "s", "minutes",
              "minute", "min", "m", "hours", "hour", "hr", "h", "days", "day", "d", "weeks", "week",
              "w", "months", "month", "M", "years", "year", "y")
TIME_SPAN = re.compile(r"\A *(?:\d+(?:\.\d+)? *(?:%s)? *)+\Z" % "|".join(TIME_UNITS))
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


def unit_path_problem(path, variable):
    """Why ``path`` cannot be a board path the units name (absolute, normalized, plain characters), or None."""
    if not isinstance(path, str) or not UNIT_PATH.match(path) or re.search(r"/\.\.?(?:/|\Z)", path):
        return ("%s must be an absolute, normalized path of letters, digits and ._+@- (no spaces, ':', '%%', '$' "
                "or quotes), got %r" % (variable, path))
    return None


def time_span_problem(value, variable):
    """Why ``value`` is not a systemd time span (systemd.time(7); V(infinity) for the timeout), or None."""
    if variable == "self_heal_timeout" and value == "infinity":
        return None
    if not isinstance(value, str) or not TIME_SPAN.match(value) or not value.strip():
        return "%s must be a systemd time span such as 10min, 1h 30min or 90s, got %r" % (variable, value)
    return None


def signing_key_problem(key, variable="self_heal_signing_keys"):
    """Why ``key`` is not one OpenSSH public key line (type, base64, optional comment), or None."""
    if not isinstance(key, str) or not SSH_PUBLIC_KEY.match(key.strip()):
        return ("%s: each entry must be one OpenSSH public key ('ssh-ed25519 AAAA... comment', the .pub file), got %r"
                % (variable, key if not isinstance(key, str) else key[:60]))
    return None


def _source_problems(settings):
    url = settings.get("self_heal_repo_url") or ""
    bundle = settings.get("self_heal_bundle_source") or ""
    if bool(url) == bool(bundle):
        yield ("self_heal_repo_url, self_heal_bundle_source: set exactly one of them (a git URL, or a repo on the "
               "controller)")
    if url:
        yield repo_url_problem(url)
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
            found.append(unit_path_problem(settings[variable], variable))
    for index, path in enumerate(p for p in (settings.get("self_heal_collections_path") or "").split(":") if p):
        found.append(unit_path_problem(path, "self_heal_collections_path (entry %d)" % index))
    if "self_heal_playbook" in settings:
        found.append(text_problem(settings["self_heal_playbook"], "self_heal_playbook"))
    for index, arg in enumerate(settings.get("self_heal_extra_args") or []):
        found.append(text_problem(arg, "self_heal_extra_args[%d]" % index))
    for variable in TIME_SPAN_VARIABLES:
        if variable in settings:
            found.append(time_span_problem(settings[variable], variable))
    return [problem for problem in found if problem]
