# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The command line: run the daemon, ``--check``, ``--validate-config``, ``--version``."""

from __future__ import annotations

import sys

from rock5b_oom_monitor import DEFAULT_CONFIG, EX_CONFIG, IDENTIFIER, LOG_ERR, MESSAGE_IDS, VERSION
from rock5b_oom_monitor.config import ConfigError, load_config
from rock5b_oom_monitor.journal import Journal
from rock5b_oom_monitor.notify import Notifier


USAGE = """usage: rock5b-oom-monitor [--config FILE] [--check] [--validate-config FILE] [--version]

Low-memory monitor for Rock 5B+ boards.

  --config FILE           JSON config (default %s)
  --check                 print the current state and exit (0 ok, 1 warn, 2 critical)
  --validate-config FILE  check a config file and exit (0, or 78 with the error)
  --version               print the version and exit
""" % DEFAULT_CONFIG


class Args:  # pylint: disable=too-few-public-methods
    config = DEFAULT_CONFIG
    check = False
    validate_config = None
    proc = "/proc"  # for tests: a fake /proc and root
    root = "/"


def usage_error(message):
    sys.stderr.write("%s: %s\n%s" % (IDENTIFIER, message, USAGE))
    raise SystemExit(2)


def parse_args(argv):
    """The command line; argparse would cost the daemon about 0.5 MiB for five options."""
    args, rest = Args(), list(argv)
    takes_value = {"--config": "config", "--validate-config": "validate_config", "--proc": "proc", "--root": "root"}
    while rest:
        word = rest.pop(0)
        name, equals, value = word.partition("=")
        if name in takes_value:
            if not equals:
                if not rest:
                    usage_error("%s needs a value" % name)
                value = rest.pop(0)
            setattr(args, takes_value[name], value)
        elif word == "--check":
            args.check = True
        elif word in ("-h", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        elif word == "--version":
            sys.stdout.write("%s %s\n" % (IDENTIFIER, VERSION))
            raise SystemExit(0)
        else:
            usage_error("unknown argument %r" % word)
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)

    validating = args.validate_config is not None  # "--validate-config=" is an empty path, not "no option"
    # The one validation (config.validate_config, through load_config) for --validate-config,
    # --check and the daemon's start: what the first accepts, the last starts with.
    try:
        config = load_config(args.validate_config if validating else args.config)
    except ConfigError as error:
        message = "config error: %s" % error
        if validating or args.check:
            sys.stderr.write(message + "\n")
        else:
            Journal().send(LOG_ERR, message, [("MESSAGE_ID", MESSAGE_IDS["error"]), ("ROCK5B_OOM_EVENT", "config_error")])
            sys.stderr.write("<%d>%s\n" % (LOG_ERR, message))
            Notifier().notify("STATUS=%s" % message)
        return EX_CONFIG
    if validating:
        sys.stdout.write("%s: valid\n" % args.validate_config)
        return 0
    # Imported when needed: the daemon does without --check's code, and --check without the loop's.
    if args.check:
        from rock5b_oom_monitor.check import check_report  # pylint: disable=import-outside-toplevel
        text, status = check_report(config, args.proc, args.root)
        sys.stdout.write(text)
        return status
    from rock5b_oom_monitor.loop import run  # pylint: disable=import-outside-toplevel
    return run(config, args.proc, args.root)
