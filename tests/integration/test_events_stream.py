"""The live stream MNT/.bucketfs/events (many readers, blocking reads,
poll/select, O_NONBLOCK, gap lines, signals) and `bucketfs events`
(--follow, --since, --bucket, --event, the MNT form) with the log options
(retention, durability, state)."""
import errno
import json
import os
import select
import signal
import subprocess
import threading
import time

import pytest

from conftest import (EventStream, TIMEOUT, bucketfs_bin, bucketfs_events,
                      daemon_env, errno_of, ev_brief, seq_of, subscribe_all,
                      wait_for)

RING_LINES = 16384


def put(p, data=b"x"):
    with open(p, "wb") as f:
        f.write(data)


def events_path(m):
    return str(m.mnt / ".bucketfs" / "events")


def health(m, name="health"):
    """The daemon still serves the mount and records events."""
    p = m.bucket() / name
    put(p, b"ok")
    with open(p, "rb") as f:
        assert f.read() == b"ok"
    assert ("s3:ObjectCreated:Put", "alpha", name) in \
        [ev_brief(r) for r in bucketfs_events(m)]


# ---- the live stream ---------------------------------------------------


def test_stream_starts_at_open_and_sees_every_event(fs_off):
    """A reader gets what happens after its open, also events no rule
    stores (here Get, with nothing configured)."""
    m = fs_off
    put(m.bucket() / "before")
    s = EventStream(m)
    put(m.bucket() / "after")
    with open(m.bucket() / "after", "rb"):
        pass
    s.until(lambda r: r.get("eventName") == "s3:ObjectAccessed:Get")
    got = [ev_brief(r) for r in s.drain()
           if r.get("eventName") != "s3:ObjectAccessed:Head"]
    assert got == [("s3:ObjectCreated:Put", "alpha", "after"),
                   ("s3:ObjectAccessed:Get", "alpha", "after")]
    s.close()


def test_many_readers_see_the_same_lines(fs_off):
    m = fs_off
    subscribe_all(m)
    readers = [EventStream(m) for _ in range(24)]
    for i in range(40):
        put(m.bucket() / f"f{i}", b"y" * (i + 1))
    os.chmod(m.bucket() / "f39", 0o600)
    for s in readers:
        s.until(lambda r: ev_brief(r) == ("s3:ObjectAcl:Put", "alpha", "f39"))
    first = readers[0].lines
    assert [ev_brief(r) for r in first if r["eventName"] ==
            "s3:ObjectCreated:Put"] == \
        [("s3:ObjectCreated:Put", "alpha", f"f{i}") for i in range(40)]
    for s in readers[1:]:
        assert s.lines[:len(first)] == first
    for s in readers:
        s.close()
    health(m)


def daemon_threads(m):
    return len(os.listdir(f"/proc/{m.proc.pid}/task"))


def test_blocking_readers_wake_and_do_not_block_the_filesystem(fs_off):
    """Readers blocked in read() neither stop other requests nor miss the
    record that wakes them.  They hold no daemon thread while they wait:
    more of them than libfuse would ever start workers (256) leave the
    file system working."""
    m = fs_off
    n = 400
    fds = [os.open(events_path(m), os.O_RDONLY) for _ in range(n)]
    out = [None] * n

    def rd(i):
        out[i] = os.read(fds[i], 65536)

    ts = [threading.Thread(target=rd, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    assert all(t.is_alive() for t in ts), "read returned with nothing to read"
    assert daemon_threads(m) < 64, "blocked readers hold daemon threads"
    # the filesystem works while they block
    (m.bucket() / "d").mkdir()
    put(m.bucket() / "d" / "wake.txt", b"w")
    for t in ts:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a blocked reader was not woken"
    for b in out:
        first = json.loads(b.split(b"\n")[0])
        assert ev_brief(first)[2] == "d/wake.txt"
        assert b.endswith(b"\n"), "a read must return whole lines"
    for fd in fds:
        os.close(fd)
    health(m)


def test_poll_select_and_nonblocking_reads(fs_off):
    m = fs_off
    fd = os.open(events_path(m), os.O_RDONLY | os.O_NONBLOCK)
    assert errno_of(os.read, fd, 4096) == errno.EAGAIN
    p = select.poll()
    p.register(fd, select.POLLIN)
    assert p.poll(200) == []
    r, _, _ = select.select([fd], [], [], 0.2)
    assert r == []
    done = threading.Event()

    def later():
        time.sleep(0.3)
        put(m.bucket() / "polled")
        done.set()

    threading.Thread(target=later, daemon=True).start()
    t0 = time.monotonic()
    ev = p.poll(TIMEOUT * 1000)          # wakes on the event, not a timer
    assert ev == [(fd, select.POLLIN)]
    assert time.monotonic() - t0 < TIMEOUT
    data = os.read(fd, 65536)
    assert b'"key":"polled"' in data
    # a reader too small for a gap line is refused, not served a torn line
    assert errno_of(os.read, fd, 8) == errno.EINVAL
    os.close(fd)
    done.wait(TIMEOUT)


def test_small_reads_return_whole_lines_then_pieces(fs_off):
    m = fs_off
    fd = os.open(events_path(m), os.O_RDONLY | os.O_NONBLOCK)
    put(m.bucket() / "a")
    put(m.bucket() / "b")
    wait_for(lambda: select.select([fd], [], [], 0.1)[0], what="data")
    chunks = []
    while True:
        try:
            c = os.read(fd, 300)          # shorter than one record
        except BlockingIOError:
            if b"".join(chunks).count(b"\n") >= 2:
                break
            time.sleep(0.05)
            continue
        assert c
        chunks.append(c)
    lines = b"".join(chunks).split(b"\n")
    assert [json.loads(x)["s3"]["object"]["key"] for x in lines if x.strip()
            and b'"gap"' not in x and b"Head" not in x] == ["a", "b"]
    os.close(fd)


def test_gap_line_for_a_reader_that_falls_behind(fs_off):
    """One reader sleeps while more than the ring holds happens: it gets
    {"gap":N} and then the newest lines, N + what it reads accounting for
    everything; a reader that keeps up sees no gap and every line."""
    m = fs_off
    f = m.bucket() / "g"
    put(f)
    slow = os.open(events_path(m), os.O_RDONLY)
    fast = os.open(events_path(m), os.O_RDONLY)
    got = []
    stop = threading.Event()

    def keep_up():
        buf = b""
        while not stop.is_set() or select.select([fast], [], [], 0.3)[0]:
            if not select.select([fast], [], [], 0.3)[0]:
                continue
            buf += os.read(fast, 1 << 20)
            *lines, buf = buf.split(b"\n")
            got.extend(lines)

    t = threading.Thread(target=keep_up, daemon=True)
    t.start()
    total = RING_LINES + 1000
    for i in range(total):
        os.chmod(f, 0o600 | (i & 1) << 2)
    stop.set()
    t.join(TIMEOUT * 3)
    acl = [x for x in got if b"ObjectAcl:Put" in x]
    assert not [x for x in got if x.startswith(b'{"gap"')], \
        "a reader that keeps up must see no gap"
    assert len(acl) == total
    # the slow reader
    os.set_blocking(slow, False)
    data = b""
    while True:
        try:
            c = os.read(slow, 1 << 20)
        except BlockingIOError:
            break
        if not c:
            break
        data += c
    lines = [json.loads(x) for x in data.split(b"\n") if x.strip()]
    assert "gap" in lines[0], lines[0]
    n = lines[0]["gap"]
    assert isinstance(n, int) and n > 0
    rest = lines[1:]
    assert not [x for x in rest if "gap" in x]
    assert len(rest) <= RING_LINES
    assert n + len(rest) == len(got)      # every line, read or counted
    assert rest == [json.loads(x) for x in got[-len(rest):]]
    os.close(slow)
    os.close(fast)
    health(m)


def test_two_blocked_reads_of_one_descriptor(fs_off):
    """Parked reads of one open file are answered in the order they came,
    each with records of its own."""
    m = fs_off
    fd = os.open(events_path(m), os.O_RDONLY)
    out = [None, None]

    def rd(i):
        out[i] = os.read(fd, 65536)

    ts = [threading.Thread(target=rd, args=(i,), daemon=True)
          for i in range(2)]
    for t in ts:
        t.start()
        time.sleep(0.2)
    put(m.bucket() / "one", b"1")
    put(m.bucket() / "two", b"2")
    for t in ts:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a parked read was not answered"
    keys = [[ev_brief(json.loads(ln))[2] for ln in b.splitlines()]
            for b in out]
    assert keys == [["one"], ["two"]]
    os.close(fd)
    health(m)


def test_single_threaded_mount_with_a_blocked_reader(mount_factory):
    """-s: one thread serves every request, so a reader waiting for the
    next record must not hold it."""
    m = mount_factory(opts=["passthrough=off"], args=["-s"])
    subscribe_all(m)
    r = subprocess.Popen(["cat", events_path(m)], stdout=subprocess.PIPE)
    time.sleep(0.3)
    put(m.bucket() / "while-reading", b"x")
    line = r.stdout.readline()
    assert ev_brief(json.loads(line))[2] == "while-reading"
    r.kill()
    r.wait(TIMEOUT)
    r.stdout.close()
    health(m)


def test_blocked_read_interrupted_by_a_signal(fs_off):
    m = fs_off
    t0 = time.monotonic()
    p = subprocess.run(["timeout", "1", "cat", events_path(m)],
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 124 and p.stdout == b""
    assert time.monotonic() - t0 < 5
    # SIGINT to a reader in a blocking read, then SIGKILL to another
    r1 = subprocess.Popen(["cat", events_path(m)], stdout=subprocess.PIPE)
    r2 = subprocess.Popen(["cat", events_path(m)], stdout=subprocess.PIPE)
    time.sleep(0.3)
    r1.send_signal(signal.SIGINT)
    r2.kill()
    assert r1.wait(TIMEOUT) != 0 and r2.wait(TIMEOUT) == -9
    r1.stdout.close()
    r2.stdout.close()
    # the daemon is fine, and a new reader works
    s = EventStream(m)
    health(m, "after-signal")
    s.until(lambda r: ev_brief(r)[2:] == ("after-signal",))
    s.close()


def test_readers_signalled_while_events_flow(fs_off):
    """Parked reads answered by the publishing thread, interrupted by
    signals and ended by RELEASE all at once: every reply path of a parked
    read unregisters its interrupt callback first, so none can reach a
    freed handle (the sanitizer builds would report it)."""
    m = fs_off
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            put(m.bucket() / f"flow{i % 50}", b"x")
            i += 1

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        deadline = time.monotonic() + 3
        sigs = [signal.SIGINT, signal.SIGKILL, signal.SIGTERM]
        n = 0
        while time.monotonic() < deadline:
            rs = [subprocess.Popen(["dd", "if=" + events_path(m),
                                    "of=/dev/null", "bs=64k"],
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                  for _ in range(8)]
            time.sleep(0.02 * (n % 3))
            for i, r in enumerate(rs):
                r.send_signal(sigs[(i + n) % len(sigs)])
            for r in rs:
                r.wait(TIMEOUT)
            n += 1
        assert n > 5
    finally:
        stop.set()
        w.join(TIMEOUT)
    health(m, "after-storm")


def test_stream_sequencers_follow_the_log_under_concurrency(fs_off):
    """Stored records reach the stream in sequencer order (a consumer that
    resumes from the last sequencer it saw must not skip any)."""
    m = fs_off
    subscribe_all(m)
    s = EventStream(m)
    b = m.bucket()
    script = ("import os,sys\n"
              "d=sys.argv[1]\n"
              "for i in range(300):\n"
              "    p=os.path.join(d,'f%d'%i)\n"
              "    fd=os.open(p,os.O_WRONLY|os.O_CREAT,0o644)\n"
              "    os.write(fd,b'x'); os.close(fd)\n"
              "    os.chmod(p,0o600)\n")
    for w in range(4):
        (b / f"w{w}").mkdir()
    procs = [subprocess.Popen(["/usr/bin/python3", "-c", script,
                               str(b / f"w{w}")]) for w in range(4)]
    for p in procs:
        assert p.wait(TIMEOUT * 3) == 0
    os.chmod(b / "w0" / "f0", 0o644)
    s.until(lambda r: ev_brief(r) == ("s3:ObjectAcl:Put", "alpha", "w0/f0")
            and r["s3"]["object"]["sequencer"] != "0" * 16
            and len(s.lines) > 2400)
    recs = [r for r in s.drain() if r["eventName"] != "s3:ObjectAccessed:Head"]
    seqs = [seq_of(r) for r in recs]
    assert len(seqs) >= 2401
    bad = [(a, b_) for a, b_ in zip(seqs, seqs[1:]) if b_ <= a]
    assert not bad, f"{len(bad)} sequencer inversions on the stream, e.g. {bad[:5]}"
    s.close()


def test_stream_records_carry_real_sequencers_without_rules(fs_off):
    """With nothing configured a Get is not stored, but live readers see
    it; its record must still carry a real sequencer (strictly increasing,
    DESIGN §3), not 0000000000000000 shared by every such record."""
    m = fs_off
    put(m.bucket() / "r")
    s = EventStream(m)
    for _ in range(3):
        with open(m.bucket() / "r", "rb"):
            pass
    put(m.bucket() / "r2")
    s.until(lambda r: ev_brief(r)[2] == "r2")
    recs = [r for r in s.drain() if r["eventName"] in
            ("s3:ObjectAccessed:Get", "s3:ObjectCreated:Put")]
    seqs = [r["s3"]["object"]["sequencer"] for r in recs]
    assert len(seqs) == 4
    assert seqs == sorted(set(seqs)) and "0" * 16 not in seqs, seqs
    s.close()


# ---- bucketfs events ---------------------------------------------------


def test_events_follow_sees_new_events(fs_off):
    m = fs_off
    put(m.bucket() / "old")
    p = subprocess.Popen([bucketfs_bin(), "events", "--state", str(m.state),
                          "--follow"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=daemon_env())
    buf = [b""]
    try:
        def line():
            # raw reads: several records may arrive in one write, and a
            # buffered readline would hide the rest from select()
            while b"\n" not in buf[0]:
                r, _, _ = select.select([p.stdout], [], [], TIMEOUT)
                assert r, "bucketfs events --follow printed nothing"
                chunk = os.read(p.stdout.fileno(), 65536)
                assert chunk, "bucketfs events --follow ended"
                buf[0] += chunk
            ln, buf[0] = buf[0].split(b"\n", 1)
            return json.loads(ln)
        assert ev_brief(line()) == ("s3:ObjectCreated:Put", "alpha", "old")
        time.sleep(0.2)
        put(m.bucket() / "new1")
        assert ev_brief(line()) == ("s3:ObjectCreated:Put", "alpha", "new1")
        os.unlink(m.bucket() / "new1")
        assert ev_brief(line()) == ("s3:ObjectRemoved:Delete", "alpha", "new1")
    finally:
        p.terminate()
        p.wait(TIMEOUT)
        err = p.stderr.read().decode()
        p.stdout.close()
        p.stderr.close()
    assert "Sanitizer" not in err and "runtime error" not in err, err


def test_events_since_bucket_event_filters(fs_off):
    m = fs_off
    for b in ("alpha", "beta"):
        put(m.bucket(b) / "one")
        put(m.bucket(b) / "two")
        os.unlink(m.bucket(b) / "one")
    allr = bucketfs_events(m)
    seqs = [seq_of(r) for r in allr]
    assert len(allr) == 6 and seqs == sorted(set(seqs))
    assert bucketfs_events(m, "--since", seqs[2]) == allr[3:]
    assert bucketfs_events(m, "--since", seqs[-1]) == []
    assert bucketfs_events(m, "--since", 0) == allr
    assert bucketfs_events(m, "--bucket", "beta") == allr[3:]
    assert bucketfs_events(m, "--bucket", "nope") == []
    dels = [r for r in allr if r["eventName"] == "s3:ObjectRemoved:Delete"]
    assert bucketfs_events(m, "--event", "s3:ObjectRemoved:Delete") == dels
    assert bucketfs_events(m, "--event", "s3:ObjectRemoved*") == dels
    assert bucketfs_events(m, "--event", "s3:ObjectCreated:*") == \
        [r for r in allr if r not in dels]
    assert bucketfs_events(m, "--bucket", "alpha", "--event",
                           "s3:ObjectCreated:Put", "--since", seqs[0]) == \
        [allr[1]]


def test_events_mount_form_matches_state_form(fs):
    """`bucketfs events MNT` finds the log through MNT/.bucketfs/state;
    repeated, as scripts do (each run opens, reads, closes the file)."""
    m = fs
    put(m.bucket() / "x")
    want = bucketfs_events(m)
    for _ in range(40):
        assert bucketfs_events([m.mnt]) == want
    health(m)


def test_events_cli_errors(fs_off, tmp_path):
    m = fs_off
    def run(*a):
        return subprocess.run([bucketfs_bin(), "events"] + [str(x) for x in a],
                              capture_output=True, text=True, env=daemon_env())
    assert run().returncode == 2
    assert run("--state", m.state, m.mnt).returncode == 2
    assert run("--state", m.state, "--since", "-1").returncode == 2
    assert run("--state", m.state, "--since", "x").returncode == 2
    assert run("--state", m.state, "--bogus", "1").returncode == 2
    p = run(tmp_path)
    assert p.returncode == 1 and "not a bucketfs mount" in p.stderr
    p = run("--state", tmp_path)
    assert p.returncode == 1 and p.stderr


# ---- log options -------------------------------------------------------


def test_log_max_events_keeps_the_newest(mount_factory):
    m = mount_factory(opts=["passthrough=off", "log_max_events=10"])
    for i in range(50):
        put(m.bucket() / f"k{i:02d}")

    def newest_ten():
        recs = bucketfs_events(m)
        return recs if len(recs) <= 10 else None
    recs = wait_for(newest_ten, what="retention to 10 events")
    assert [ev_brief(r)[2] for r in recs] == [f"k{i:02d}" for i in range(50 - len(recs), 50)]
    assert len(recs) == 10
    last = seq_of(recs[-1])
    m.restart()
    put(m.bucket() / "after")
    recs = bucketfs_events(m)
    assert len(recs) <= 10 and ev_brief(recs[-1])[2] == "after"
    assert seq_of(recs[-1]) > last


def test_log_max_age_drops_old_events(mount_factory):
    m = mount_factory(opts=["passthrough=off", "log_max_age=1"])
    for i in range(5):
        put(m.bucket() / f"old{i}")
    assert len(bucketfs_events(m)) == 5
    time.sleep(2.2)

    def only_new():
        put(m.bucket() / "tick")
        keys = [ev_brief(r)[2] for r in bucketfs_events(m)]
        return not any(k.startswith("old") for k in keys) and keys
    keys = wait_for(only_new, what="old events to expire", interval=0.3)
    assert "tick" in keys


@pytest.mark.parametrize("durability", ["commit", "fsync", "none"])
def test_durability_modes_record_everything_by_unmount(mount_factory,
                                                       durability):
    m = mount_factory(opts=["passthrough=off", f"durability={durability}"])
    for i in range(200):
        put(m.bucket() / f"d{i}")
    if durability != "none":         # in the log when close() returned
        assert len(bucketfs_events(m)) == 200
    m.restart()
    recs = bucketfs_events(m)
    assert [ev_brief(r)[2] for r in recs] == [f"d{i}" for i in range(200)]


@pytest.mark.parametrize("durability", ["commit", "none"])
def test_records_follow_the_operations(mount_factory, durability):
    """With durability=none the request thread only queues an event and
    a worker records it; the records must still be those of the
    operations, in their order (sequencers increasing), complete (a Put's
    eTag is its content's), on the live stream and in the log, the same
    as with commit.  Mixed operations on shared keys, so an order
    swapped between a key's Put, Get, Copy and Delete would show."""
    import hashlib
    m = mount_factory(opts=["passthrough=off", f"durability={durability}"])
    subscribe_all(m)
    s = EventStream(m)
    b = m.bucket()
    want, etags = [], {}
    for i in range(120):
        k = f"k{i % 7}"
        data = os.urandom(100 + i * 37)
        put(b / k, data)
        want.append(("s3:ObjectCreated:Put", "alpha", k))
        etags.setdefault(k, []).append(hashlib.md5(data).hexdigest())
        if i % 3 == 0:
            with open(b / k, "rb") as f:
                f.read()
            want.append(("s3:ObjectAccessed:Get", "alpha", k))
        if i % 5 == 4:
            os.rename(b / k, b / "moved")
            want += [("s3:ObjectCreated:Copy", "alpha", "moved"),
                     ("s3:ObjectRemoved:Delete", "alpha", k)]
            os.unlink(b / "moved")
            want.append(("s3:ObjectRemoved:Delete", "alpha", "moved"))
    put(b / "end")
    want.append(("s3:ObjectCreated:Put", "alpha", "end"))
    s.until(lambda r: ev_brief(r) == ("s3:ObjectCreated:Put", "alpha", "end"))
    kept = ("s3:ObjectCreated:", "s3:ObjectRemoved:", "s3:ObjectAccessed:Get")
    live = [r for r in s.drain() if r["eventName"].startswith(kept)]
    s.close()
    assert [ev_brief(r) for r in live] == want
    seqs = [r["s3"]["object"]["sequencer"] for r in live]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # a Put whose key was written again before its turn to be hashed
    # carries no eTag (never the MD5 of the later content)
    puts = {}
    for r in live:
        o = r["s3"]["object"]
        if r["eventName"] == "s3:ObjectCreated:Put" and o["key"] != "end":
            puts.setdefault(o["key"], []).append(o.get("eTag"))
    assert puts.keys() == etags.keys()
    for k, got in puts.items():
        assert len(got) == len(etags[k])
        # (put number, eTag given, eTag wanted): a hash taken while the
        # next write was under way once gave the MD5 of "" or of the
        # next content here
        bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, etags[k]))
               if g not in (None, w)]
        assert not bad, (k, bad)
    assert any(g for got in puts.values() for g in got)
    m.restart()
    logged = [r for r in bucketfs_events(m)
              if r["eventName"].startswith(kept)]
    assert logged == live


def test_state_option_puts_the_log_elsewhere(mount_factory, tmp_path):
    st = tmp_path / "elsewhere"
    m = mount_factory(opts=["passthrough=off", f"state={st}"])
    put(m.bucket() / "s")
    assert (m.mnt / ".bucketfs" / "state").read_text().strip() == str(st)
    recs = bucketfs_events(["--state", st])
    assert [ev_brief(r) for r in recs] == [("s3:ObjectCreated:Put", "alpha", "s")]
    assert not (m.src / ".bucketfs-state" / "events.db").exists()
    assert bucketfs_events([m.mnt]) == recs


def test_default_state_dir_is_hidden(fs_off):
    m = fs_off
    put(m.bucket() / "h")
    assert ".bucketfs-state" not in os.listdir(m.mnt)
    assert errno_of(os.stat, m.mnt / ".bucketfs-state") == errno.ENOENT
    assert (m.src / ".bucketfs-state").is_dir()
