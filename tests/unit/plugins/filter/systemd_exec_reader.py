"""How systemd reads an Exec*= command line back into arguments: a reference for the tests.

systemd's config_parse_exec: words split by extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)
(single and double quotes; a backslash starts a C escape inside quotes and out; an unquoted lone
';' separates commands), then specifiers expanded in each word ('%%' is '%'), then, when the
command runs, environment variables ('$$' is '$', '$NAME' and '${NAME}' are substituted).
Anything these tests never write on purpose (another specifier, a variable, an unknown escape,
an unterminated quote, a second command) raises ValueError.
"""

from __future__ import annotations

import re

ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", '"': '"', "'": "'", "s": " "}
WHITESPACE = " \t\n\r"


def _escape(line, i):
    if i >= len(line):
        raise ValueError("a backslash at the end of the line continues it")
    c = line[i]
    if c in ESCAPES:
        return i + 1, ESCAPES[c]
    if c == "x" and re.match(r"[0-9a-fA-F]{2}", line[i + 1:i + 3]):
        value = int(line[i + 1:i + 3], 16)
        if value == 0:
            raise ValueError("\\x00 is refused")
        return i + 3, chr(value)
    raise ValueError("unknown escape \\%s" % c)


def _words(line):
    words, i, n = [], 0, len(line)
    while True:
        while i < n and line[i] in WHITESPACE:
            i += 1
        if i >= n:
            return words
        if line[i] == ";" and (i + 1 == n or line[i + 1] in WHITESPACE):
            raise ValueError("an unquoted ';' starts a second command")
        word, quote = [], None
        while i < n:
            c = line[i]
            if quote is None and c in WHITESPACE:
                break
            if c == "\\":
                i, char = _escape(line, i + 1)
                word.append(char)
            elif quote is None and c in "\"'":
                quote, i = c, i + 1
            elif c == quote:
                quote, i = None, i + 1
            else:
                word.append(c)
                i += 1
        if quote is not None:
            raise ValueError("unterminated quote")
        words.append("".join(word))


def _specifiers(word):
    def one(match):
        if match.group() != "%%":
            raise ValueError("specifier %s would be expanded" % match.group())
        return "%"
    return re.sub(r"%.?", one, word, flags=re.S)


def _variables(word):
    def one(match):
        if match.group() != "$$":
            raise ValueError("variable %s would be substituted" % match.group())
        return "$"
    return re.sub(r"\$(?:\$|\{|[A-Za-z_])", one, word)


def read_exec(line):
    """The arguments systemd runs for the command line ``line`` (the value after ExecStart=)."""
    if "\n" in line:
        raise ValueError("a newline ends the setting")
    words = [_variables(_specifiers(word)) for word in _words(line)]
    if not words:
        raise ValueError("no command")
    return words
