"""monitor_backend on the converged boards: board-2 runs Debian's earlyoom, the others the monitor.

molecule.yml's host_vars give board-2 `monitor_backend: earlyoom`; every other board keeps the
default (rock5b). Each board is checked for what its backend means, so no board is skipped.
In these containers PID 1 lacks CAP_SYS_ADMIN: earlyoom's drop-in is the variant without
DynamicUser= and the Private*= settings (they would fail with 226/NAMESPACE).
"""

from conftest import board_vars

MONITOR = "rock5b-oom-monitor.service"
EARLYOOM = "earlyoom.service"
DROPIN = "/etc/systemd/system/earlyoom.service.d/rock5b-oom.conf"
# monitor_critical 100M -> -M 102400 (KiB); swap counted (no -s); the protected comms (the
# role's monitor_protect_comms, and protect_daemons' sshd entry, already among them) -> --avoid;
# then Debian's EARLYOOM_ARGS ("-r 3600"), which systemd splits at whitespace.
ARGV = ["/usr/bin/earlyoom", "-r", "3600", "-M", "102400", "--avoid", "^(systemd|systemd-journal|sshd)$", "-r", "3600"]


def show(host, unit, *props):
    out = host.check_output("systemctl show -p %s %s" % (",".join(props), unit))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def backend(host):
    return board_vars(host.backend.get_hostname())["monitor_backend"]


def test_the_chosen_killer_runs_and_the_other_does_not(host):
    monitor = show(host, MONITOR, "ActiveState", "UnitFileState", "LoadState")
    earlyoom = show(host, EARLYOOM, "ActiveState", "UnitFileState", "LoadState", "NRestarts")
    if backend(host) == "earlyoom":
        assert (earlyoom["ActiveState"], earlyoom["UnitFileState"]) == ("active", "enabled"), earlyoom
        assert earlyoom["NRestarts"] == "0", "earlyoom restarted: it refused its arguments? %s" % earlyoom
        # the monitor's files stay, its unit is stopped and disabled
        assert monitor["LoadState"] == "loaded", monitor
        assert (monitor["ActiveState"], monitor["UnitFileState"]) == ("inactive", "disabled"), monitor
        assert host.file("/usr/lib/rock5b-oom/main.py").is_file
    else:
        assert (monitor["ActiveState"], monitor["UnitFileState"]) == ("active", "enabled"), monitor
        assert earlyoom["ActiveState"] != "active", earlyoom
        assert not host.file(DROPIN).exists


def test_earlyoom_runs_with_the_mapped_arguments(host):
    if backend(host) != "earlyoom":
        assert not host.package("earlyoom").is_installed
        return
    pid = show(host, EARLYOOM, "MainPID")["MainPID"]
    assert pid not in ("", "0")
    argv = host.check_output("cat /proc/%s/cmdline | tr '\\0' '\\n'" % pid).splitlines()
    if "qemu" in argv[0]:
        # an arm64 container on an x86_64 host: qemu-user's binfmt handler (flag P) shows as
        # [handler, the program's path, argv...]
        argv = argv[2:]
    assert argv == ARGV, argv
    # earlyoom parsed them: its start message names the levels it acts at
    journal = host.check_output("journalctl -u %s --no-pager -o cat -b" % EARLYOOM)
    assert "sending SIGTERM when mem <=" in journal, journal[-2000:]


def test_earlyoom_drop_in_is_the_variant_without_namespaces(host):
    if backend(host) != "earlyoom":
        assert not host.file(DROPIN).exists and host.run("pgrep -x earlyoom").rc != 0
        return
    dropin = host.file(DROPIN)
    assert dropin.is_file and dropin.mode == 0o644 and dropin.user == "root"
    lines = dropin.content_string.splitlines()
    assert "ExecStart=" in lines and "DynamicUser=no" in lines and "PrivateTmp=no" in lines
    # the package's defaults file stays the package's
    assert 'EARLYOOM_ARGS="-r 3600"' in host.file("/etc/default/earlyoom").content_string
    # what the audit reads: one userspace killer, the chosen one
    assert host.run("pgrep -x earlyoom").rc == 0
