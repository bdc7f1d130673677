"""How the workers wait for requests (fs/fs_recv.c): one worker polls
/dev/fuse for spin=USEC before the workers sleep.  Checked through what the
daemon's /dev/fuse descriptor says (non-blocking only when polling) and
through the CPU time an idle daemon uses (a poller that never sleeps would
burn a CPU).  And the threads that work behind the requests (hasher,
ingester) yield the CPU to them: nice 10.  And the descriptor table is
grown before they start."""
import os
import resource
import time

import pytest

from conftest import Mount

O_NONBLOCK = 0o4000


def fuse_fd_flags(pid):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "/dev/fuse":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("flags:"):
                        return int(line.split()[1], 8)
        except FileNotFoundError:
            continue
    raise AssertionError("no /dev/fuse descriptor in the daemon")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(m, n=300):
    d = m.bucket()
    for i in range(n):
        p = d / f"f{i}"
        p.write_bytes(b"x" * 100)
        p.read_bytes()
        p.unlink()


def two_cpus():
    return len(os.sched_getaffinity(0)) >= 2


@pytest.mark.skipif(not two_cpus(), reason="polling is off on one CPU")
def test_default_polls_and_sleeps_when_idle(mount_factory):
    m = mount_factory()
    assert fuse_fd_flags(m.proc.pid) & O_NONBLOCK
    burst(m)
    time.sleep(0.2)
    before = cpu_seconds(m.proc.pid)
    time.sleep(1.0)
    used = cpu_seconds(m.proc.pid) - before
    assert used < 0.1, f"idle daemon used {used:.2f} s of CPU in 1 s"


def test_spin_0_sleeps_in_read(mount_factory):
    m = mount_factory(opts=["spin=0"])
    assert not fuse_fd_flags(m.proc.pid) & O_NONBLOCK
    burst(m, 50)
    assert not any(m.bucket().iterdir())


def test_bound_to_one_cpu_does_not_poll(mount_factory):
    m = mount_factory(start=False)
    cpu = min(os.sched_getaffinity(0))
    m.command = lambda: ["taskset", "-c", str(cpu)] + Mount.command(m)
    m.start()
    assert not fuse_fd_flags(m.proc.pid) & O_NONBLOCK
    burst(m, 50)


def test_bad_spin_is_refused(run_daemon, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "m").mkdir()
    r = run_daemon([str(tmp_path / "s"), str(tmp_path / "m"), "-f",
                    "-o", "spin=20000"])
    assert r.returncode == 2
    assert "spin=20000: at most 10000 microseconds" in r.stderr


def thread_nices(pid):
    """{thread name: set of nice values} of the daemon's threads."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                nice = int(f.read().rsplit(")", 1)[1].split()[16])
        except FileNotFoundError:
            continue
        out.setdefault(name, set()).add(nice)
    return out


@pytest.mark.parametrize("durability", ["commit", "none"])
def test_background_threads_yield_to_requests(mount_factory, durability):
    """The eTag hasher and the store's ingester run at nice 10
    (cmn_thread_background): their bursts must not keep a request waiting
    for a CPU.  The FUSE threads keep the nice the daemon was started
    with, and durability=none records events on them too (no emitter
    thread)."""
    m = mount_factory(opts=[f"durability={durability}"])
    burst(m, 50)
    mine = os.nice(0)
    nices = thread_nices(m.proc.pid)
    assert "bfs-emit" not in nices, nices
    for name in ["bfs-hasher", "bfs-ingest"]:
        assert nices.get(name) == {min(mine + 10, 19)}, (name, nices)
    assert nices["bucketfs"] == {mine}, nices


def fd_table_size(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("FDSize:"):
                return int(line.split()[1])
    raise AssertionError("no FDSize in /proc/PID/status")


def test_fd_table_is_grown_before_the_threads(mount_factory):
    """The descriptor table is sized for the hasher's descriptors (up to
    256) and open handles at start, while one thread runs: grown later,
    each doubling waits for an RCU grace period with a FUSE thread
    blocked (fs_mount.c presize_fd_table).  Without it, the daemon's
    table held 256 descriptors here in a release build and 1024 under the
    sanitizers."""
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 2048:
        pytest.skip("RLIMIT_NOFILE below 2048")
    m = mount_factory()
    assert fd_table_size(m.proc.pid) >= 2048
