"""rock5b.oom.mglru on the converged containers.

The containers share the host's kernel and see its /sys read-only. Where the host has no
multi-gen LRU (no /sys/kernel/mm/lru_gen: this test bed's usual case) the role must say so and
change nothing, even where the inventory asks for settings (board-1: mglru_enabled true); where
it has one, the read-only /sys means the file is written and the live apply is skipped with a
warning. What the module must say is decided by reading the container first, so each case
asserts its own outcome and none is skipped.
"""

import shlex

from test_oom_modules import ansible, module

PATH = "/etc/tmpfiles.d/rock5b-oom-lru-gen.conf"
LRU = "/sys/kernel/mm/lru_gen"


def has_mglru(host):
    return host.run("test -d %s" % LRU).rc == 0


def inventory_value(host, variable):
    """The role variable as the board's inventory sets it; None (the role's default) where it does not."""
    board = host.backend.get_hostname()
    _rc, data = ansible("ansible", board, "-m", "ansible.builtin.debug", "-a", "var=%s" % variable)
    value = data["plays"][0]["tasks"][0]["hosts"][board][variable]
    return None if value == "VARIABLE IS NOT DEFINED!" else value


def test_the_file_is_there_exactly_when_the_kernel_and_the_inventory_ask_for_it(host):
    asked = {name: inventory_value(host, "mglru_" + name) for name in ("enabled", "min_ttl_ms")}
    managed = host.file(PATH)
    if not has_mglru(host) or all(value is None for value in asked.values()):
        assert not managed.exists, "%s written although %s" % (
            PATH, "the kernel has no MGLRU" if not has_mglru(host) else "no value is set")
        return
    assert managed.is_file and managed.mode == 0o644 and managed.user == "root"
    lines = [line for line in managed.content_string.splitlines() if line.startswith("w ")]
    expected = []
    if asked["enabled"] is not None:
        expected.append("w %s/enabled - - - - %s" % (LRU, "y" if asked["enabled"] else "n"))
    if asked["min_ttl_ms"] is not None:
        expected.append("w %s/min_ttl_ms - - - - %d" % (LRU, int(asked["min_ttl_ms"])))
    assert lines == expected
    # the parser that applies it at boot reads it
    cat = host.run("systemd-tmpfiles --cat-config")
    assert cat.rc == 0 and "# " + PATH in cat.stdout


def state(host):
    """The tmpfiles.d directory and the kernel's lru_gen files, as they are now."""
    return host.run("ls -la --time-style=+%%s.%%N /etc/tmpfiles.d; sha256sum /etc/tmpfiles.d/* 2>/dev/null; "
                    "cat %s/* 2>/dev/null; true" % shlex.quote(LRU)).stdout


def test_the_module_says_why_it_changes_nothing_or_that_sys_is_read_only(host):
    scratch = "/etc/tmpfiles.d/zz-molecule-mglru.conf"
    before = state(host)
    result = module(host, "rock5b.oom.lru_gen", {"enabled": True, "min_ttl_ms": 1000, "path": scratch})
    if not has_mglru(host):
        assert result.get("skipped") is True and result["changed"] is False and result["present"] is False, result
        assert "/sys/kernel/mm/lru_gen is absent" in result["msg"], result["msg"]
        assert any("nothing was changed" in warning for warning in result.get("warnings", [])), result
        assert state(host) == before
        return
    host.run("rm -f %s" % scratch)
    assert not result.get("failed"), result.get("msg")
    assert result["live_applied"] is False and result["live_changed"] == [], result
    assert any("read-only" in warning for warning in result.get("warnings", [])), result
