"""The other side of the drill: under strict overcommit (vm.overcommit_memory=2, the
collection's default profile) a hog is refused at the commit limit -- malloc/mmap fail
with ENOMEM, Python raises MemoryError -- and the OOM killer does not run at all.

The VM hosts run 0 (molecule.yml) so that the drill reaches the OOM killer; this test
switches to 2 live for its own duration only and restores the previous value."""

from __future__ import annotations

import pytest

from drill import oom_kills

# not on the nopsi VM: overcommit accounting does not depend on PSI
pytestmark = [pytest.mark.vm_modes("v2", "v1"), pytest.mark.feature("overcommit strict")]

REFUSE = r"""
chunks = []
mib = 0
try:
    while True:
        chunks.append(b"\x01" * (16 << 20))
        mib += 16
except MemoryError:
    print(f"REFUSED {mib}")
"""


def meminfo(vm) -> dict[str, int]:
    out = {}
    for line in vm.read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


def test_strict_overcommit_refuses_hog_without_oom_kill(vm):
    old = vm.read("/proc/sys/vm/overcommit_memory")
    before = oom_kills(vm)
    vm.run("cat > /root/rock5b-refuse.py <<'EOF'\n" + REFUSE + "\nEOF")
    try:
        vm.run("echo 2 > /proc/sys/vm/overcommit_memory")
        info = meminfo(vm)
        out = vm.run("python3 /root/rock5b-refuse.py", timeout=300)
    finally:
        vm.run(f"echo {old} > /proc/sys/vm/overcommit_memory")
    assert out.startswith("REFUSED "), out
    allocated_kb = int(out.split()[1]) * 1024
    print(f"{vm.name}: refused after {allocated_kb // 1024} MiB; CommitLimit "
          f"{info['CommitLimit'] // 1024} MiB, MemTotal {info['MemTotal'] // 1024} MiB")  # fmt: skip
    assert allocated_kb < info["CommitLimit"], "allocated past the commit limit"
    assert oom_kills(vm) == before, "the OOM killer ran under strict overcommit"
    assert vm.reachable()
