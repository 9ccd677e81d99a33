"""docs/report.png, the README's picture of the fleet report, is a screenshot made by the lab test.

tests/integration/test_report.py::test_the_lab_page_in_a_browser labels the screenshot it takes
with PNG tEXt chunks once its checks have passed (the source test, the board count, which board
was marked how), and writes it as docs/report.png when run with ROCK5B_DOCS_PICTURE=1
(docs/report_page.md, "The picture"). This test reads the checked-in picture with its own PNG
reader: a picture copied from elsewhere, or edited by hand in an image tool (which drops or keeps
stale chunks), fails it.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PICTURE = os.path.join(REPO, "docs", "report.png")
SOURCE = "tests/integration/test_report.py::test_the_lab_page_in_a_browser"


def png_chunks(data):
    """[(type, data)] of a PNG, every CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) & 0xffffffff == crc, "bad CRC in the %s chunk" % kind
        chunks.append((kind.decode("ascii"), body))
        offset += 12 + length
    assert chunks[0][0] == "IHDR" and chunks[-1][0] == "IEND"
    return chunks


def png_text(data):
    return dict(body.decode("latin-1").split("\0", 1) for kind, body in png_chunks(data) if kind == "tEXt")


def lab_boards():
    with open(os.path.join(REPO, "inventory", "lab", "hosts.yml"), encoding="utf-8") as handle:
        return sorted(yaml.safe_load(handle)["rock5b"]["hosts"])


def test_the_docs_picture_is_the_lab_tests_screenshot_of_three_boards_one_drifted_one_unreachable():
    with open(PICTURE, "rb") as handle:
        data = handle.read()
    text = png_text(data)
    assert text.get("Source") == SOURCE, (
        "docs/report.png was not written by %s (tEXt: %r): refresh it with `ROCK5B_DOCS_PICTURE=1 make integration` "
        "(docs/report_page.md)" % (SOURCE, text))
    width = struct.unpack(">I", png_chunks(data)[0][1][:4])[0]
    assert text["Width"] == str(width) == "1280"
    assert text["Boards"] == "3"
    marked = json.loads(text["Marked"])
    assert sorted(marked) == lab_boards()
    assert sorted(marked.values()) == ["clean", "drifted", "unreachable"]
    assert text["Report-Generated"].endswith("+00:00") and text["Commit"]


def test_the_docs_show_the_picture_as_the_labs():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    with open(os.path.join(REPO, "docs", "report_page.md"), encoding="utf-8") as handle:
        page_doc = handle.read()
    assert "(docs/report.png)" in readme and "(report.png)" in page_doc
    assert "synthetic" not in page_doc.splitlines()[2] and "lab" in page_doc.splitlines()[2]
    assert "ROCK5B_DOCS_PICTURE=1" in page_doc


def test_the_labels_the_lab_test_writes_are_what_this_test_reads():
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    try:
        import browser  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    raw = zlib.compress(b"\0\0\0\0")  # one filtered row of one RGB pixel
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    labelled = browser.png_with_text(png, [("Source", SOURCE), ("Marked", '{"a": "drifted"}')])
    assert png_text(labelled) == {"Source": SOURCE, "Marked": '{"a": "drifted"}'}
    assert [kind for kind, _body in png_chunks(labelled)] == ["IHDR", "tEXt", "tEXt", "IDAT", "IEND"]
    with pytest.raises(AssertionError):
        browser.png_with_text(b"GIF89a", [("Source", SOURCE)])
