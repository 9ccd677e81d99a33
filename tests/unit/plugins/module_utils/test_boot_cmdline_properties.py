"""Properties of the kernel command line parser and of the shell rendering of /etc/default/u-boot.

The parser must split as the kernel does and give back what it read: a board whose command line
is corrupted may not boot, and it is remote. The rendering of U_BOOT_PARAMETERS must always be
one valid shell assignment, since u-boot-update sources the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.boot_cmdline import (
    arg_key, arg_value, argument_problem, edit_args, edit_file, edit_tokens, parse_shell_value, render_args,
    shell_quote, split_args,
)

KEY = st.builds("{}{}".format, st.sampled_from("abpqrs_"), st.text("abcdefpsz019_.-", max_size=6))
PLAIN = st.text("AZaz09_.,:/=+@%^~-", max_size=10)
# What may sit between double quotes on a command line: anything printable but the quote.
QUOTED = st.text(st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters='"'), max_size=12)
SPACES = st.text(" \t", min_size=1, max_size=3)


@st.composite
def arguments(draw):
    """One argument as an operator or an image writes it: a flag, key=value or key="a value"."""
    key = draw(KEY)
    form = draw(st.sampled_from(["flag", "plain", "quoted"]))
    if form == "flag":
        return key
    if form == "plain":
        return "%s=%s" % (key, draw(PLAIN))
    return '%s="%s"' % (key, draw(QUOTED))


ARG_LISTS = st.lists(arguments(), max_size=8)


def command_line(draw_args, separators):
    """``args`` joined by the given runs of whitespace (one more than there are arguments)."""
    text = separators[0]
    for arg, sep in zip(draw_args, separators[1:]):
        text += arg + sep
    return text


@given(st.text(st.sampled_from(' \t"=ab\\$x'), max_size=30))
def test_parse_render_parse_is_identity(text):
    args = split_args(text)
    assert all(args) and split_args(render_args(args)) == args
    assert edit_tokens(text, [], []) == text


@given(ARG_LISTS, st.lists(SPACES, min_size=9, max_size=9))
def test_arguments_survive_any_spacing_whole(args, separators):
    text = command_line(args, separators)
    assert split_args(text) == args
    for arg in args:
        if '="' in arg:
            assert arg_value(arg) == arg.split('="', 1)[1][:-1]


@given(ARG_LISTS, st.data())
def test_removing_an_argument_never_changes_another(args, data):
    key = data.draw(st.sampled_from([arg_key(a) for a in args] or ["psi"]))
    text = render_args(args)
    kept = split_args(edit_tokens(text, [], [key]))
    assert kept == [a for a in args if arg_key(a) != key]


@given(ARG_LISTS, st.builds("{}={}".format, KEY, PLAIN).filter(lambda a: argument_problem(a) is None))
def test_adding_an_argument_never_changes_another_key(args, item):
    after = edit_args(args, [item], [])
    assert [a for a in after if arg_key(a) != arg_key(item)] == [a for a in args if arg_key(a) != arg_key(item)]
    assert [a for a in after if arg_key(a) == arg_key(item)] in ([item], [a for a in args if arg_key(a) == arg_key(item)][:1])
    assert edit_args(after, [item], []) == after


TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@given(TEXT, st.sampled_from(['"', "'", ""]))
def test_shell_quote_reads_back_as_the_value(value, quote):
    assert parse_shell_value(shell_quote(value, quote))[0] == value


def sh_syntax_ok(tmp_path, text):
    path = os.path.join(str(tmp_path), "u-boot")
    with open(path, "w") as handle:
        handle.write(text)
    return subprocess.run(["sh", "-n", path], capture_output=True, check=False).returncode == 0


@settings(max_examples=100)
@given(st.lists(arguments(), max_size=6), st.sampled_from(['"', "'", ""]),
       st.lists(st.builds("{}={}".format, KEY, PLAIN).filter(lambda a: argument_problem(a) is None), max_size=2),
       st.lists(KEY, max_size=2))
def test_rendered_u_boot_defaults_always_pass_sh_n(tmp_path_factory, args, quote, add, remove):
    tmp_path = tmp_path_factory.mktemp("sh")
    before = 'U_BOOT_DEFAULT="l0"\nU_BOOT_PARAMETERS=%s\n' % shell_quote(render_args(args), quote)
    assert sh_syntax_ok(tmp_path, before)
    after, problem = edit_file("u_boot_default", before, add, remove)
    assert problem == "" and sh_syntax_ok(tmp_path, after)
    value = parse_shell_value(after.splitlines()[1].split("=", 1)[1])[0]
    assert split_args(value) == edit_args(args, add, remove)


SH = shutil.which("sh")
NASTY = [
    'dyndbg="file foo.c +p" quiet', "x=$(touch p) y=`touch q`", "a=\\ b=\\\\ c=\\$", "it's 'quoted'",
    'a="$(id)" b=";" c="&&" d="|" e="<>"', "trailing\\", "#comment here", "!bang ~tilde *glob ?[a]",
]


@pytest.mark.parametrize("value", NASTY)
@pytest.mark.parametrize("quote", ['"', "'", ""])
def test_sh_reads_back_exactly_what_was_rendered(tmp_path, value, quote):
    """Sourced by a real sh (no PATH, in a scratch directory), the value is the one rendered and
    nothing ran: no file appeared."""
    path = os.path.join(str(tmp_path), "u-boot")
    with open(path, "w") as handle:
        handle.write("U_BOOT_PARAMETERS=%s\n" % shell_quote(value, quote))
    shown = subprocess.run([SH, "-c", '. "$1"; printf %s "$U_BOOT_PARAMETERS"', "sh", path], cwd=str(tmp_path),
                           env={"PATH": "/nonexistent"}, capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and shown.stdout == value
    assert os.listdir(str(tmp_path)) == ["u-boot"]
