"""Delivery when things go wrong: the target down for 30 s, kill -9 of the
daemon with thousands of events queued, a receiver taking 2 s per request
(the filesystem must not notice), SIGHUP adding, removing and changing
targets mid-stream, and configuration errors (each with its file, line
and key; secrets never shown)."""
import errno
import os
import signal
import statistics
import time

import pytest

from conftest import Mount, fusermount_u, wait_for
from delivery_util import (free_port, make_target_mount, seqs, subscribe,
                           targets, wait_target, write_config)
from hookserver import HookServer


@pytest.fixture
def hook():
    servers = []

    def make(**kw):
        s = HookServer(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def keys_in_order(recs):
    per = {}
    for r in recs:
        per.setdefault(r["s3"]["object"]["key"], []).append(
            int(r["s3"]["object"]["sequencer"], 16))
    return all(v == sorted(v) for v in per.values())


def test_target_down_30s_then_up(mount_factory, tmp_path, hook):
    port = free_port()
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": f"http://127.0.0.1:{port}/hook", "retry_min": "200ms",
        "retry_max": "2s", "max_attempts": 3}})
    subscribe(m)
    down_until = time.monotonic() + 30
    n = 0
    while time.monotonic() < down_until:
        for i in range(10):
            (m.bucket() / f"k{n % 7}").write_text(str(n))
            n += 1
        time.sleep(0.5)
    t = targets(m)["primary:webhook"]
    assert t["state"] == "unreachable" and t["deadLetters"] == 0
    assert t["queued"] == n
    srv = hook(port=port)
    srv.wait(n, timeout=30, what="the backlog after the outage")
    recs = srv.records()
    assert len(recs) == n and keys_in_order(recs)
    wait_target(m, lambda t: t["queued"] == 0 and t["state"] == "idle",
                "an idle target")
    assert targets(m)["primary:webhook"]["deadLetters"] == 0


def test_kill9_with_backlog_restart_delivers_all(mount_factory, tmp_path,
                                                 hook):
    port = free_port()
    cfg = {"primary": {"endpoint": f"http://127.0.0.1:{port}/hook",
                       "retry_min": "100ms", "retry_max": "200ms"}}
    m = make_target_mount(mount_factory, tmp_path, cfg)
    subscribe(m)
    total = 5000
    for i in range(total):
        (m.bucket() / f"f{i % 50}").write_text("x")
    assert targets(m)["primary:webhook"]["queued"] == total
    # A slow receiver: some are delivered, a group is in flight, then
    # kill -9.
    srv = hook(port=port, delay=0.002)
    srv.wait(lambda h: len(h) >= 300, what="some deliveries")
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=10)
    m.checked_exit = True
    fusermount_u(m.mnt)
    before = len(srv.hits)
    m.start()
    srv.wait(lambda h: len(set(seqs(h))) >= total, timeout=120,
             what="all events after the restart")
    ids = seqs(srv.hits)
    assert len(set(ids)) == total
    dups = len(ids) - total
    # Only the group in flight at the kill comes again (at most 64).
    assert 0 <= dups <= 64, dups
    assert keys_in_order(srv.records())
    assert before <= total + 64


def create_rate(m, n=300):
    b = m.bucket()
    t0 = time.monotonic()
    for i in range(n):
        with open(b / f"s{i}-{time.monotonic_ns()}", "w") as f:
            f.write("x")
    return n / (time.monotonic() - t0)


def test_slow_receiver_does_not_slow_the_filesystem(mount_factory, tmp_path,
                                                    hook):
    # The same configuration twice, one receiver answering at once and one
    # taking 2 s per request: what is measured is the slowness of the
    # target, not the (separate, small) cost of having one at all.
    slow, fast = hook(delay=2.0), hook()
    subscribe_local = make_target_mount(mount_factory, tmp_path, {
        "primary": {"endpoint": fast.url}}, name="fast")
    subscribe(subscribe_local)
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": slow.url}}, name="slow")
    subscribe(m)
    (m.bucket() / "warm").write_text("x")
    slow.wait(lambda h: len(h) >= 1, what="the slow receiver busy")
    rates_base, rates_slow = [], []
    # Interleaved rounds, medians: the machine's other load moves single
    # rounds by more than the 10% this checks (a best-of picks outliers).
    for _ in range(7):
        rates_base.append(create_rate(subscribe_local))
        rates_slow.append(create_rate(m))
    b, s = statistics.median(rates_base), statistics.median(rates_slow)
    print(f"rates base {rates_base} slow {rates_slow}")
    assert s >= 0.9 * b, f"with a 2 s receiver {s:.0f}/s vs {b:.0f}/s"
    assert targets(m)["primary:webhook"]["queued"] > 100


def test_sighup_add_remove_change_mid_stream(mount_factory, tmp_path, hook):
    a1, a2, b = hook(), hook(), hook()
    m = make_target_mount(mount_factory, tmp_path, {
        "a": {"endpoint": a1.url}})
    # Rules for both targets, b not configured yet: its events are kept.
    from conftest import rules_xml, set_rules
    set_rules(m.bucket(), rules_xml(
        {"id": "to-a", "events": ["s3:ObjectCreated:*"],
         "arn": "arn:bucketfs:sqs::a:webhook"}))
    n = 0

    def burst(k=50):
        nonlocal n
        for _ in range(k):
            (m.bucket() / f"x{n % 5}").write_text(str(n))
            n += 1
    burst()
    # Add b.
    write_config(m.config, {"a": {"endpoint": a1.url},
                            "b": {"endpoint": b.url}})
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "b:webhook" in targets(m), what="b added")
    set_rules(m.bucket("beta"), rules_xml(
        {"id": "to-b", "events": ["s3:ObjectCreated:*"],
         "arn": "arn:bucketfs:sqs::b:webhook"}))
    burst()
    (m.bucket("beta") / "for-b").write_text("1")
    # Change a's endpoint mid-stream.
    write_config(m.config, {"a": {"endpoint": a2.url},
                            "b": {"endpoint": b.url}})
    m.proc.send_signal(signal.SIGHUP)
    burst()
    # Remove b.
    write_config(m.config, {"a": {"endpoint": a2.url}})
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: targets(m).get("b:webhook", {}).get("state") ==
             "removed", what="b removed")
    burst()
    # Every event for a arrived at a1 or a2, none lost, per key in order.
    wait_for(lambda: len(set(seqs(a1.hits)) | set(seqs(a2.hits))) >= n,
             what="every event of a")
    got = set(seqs(a1.hits)) | set(seqs(a2.hits))
    assert len(got) == n
    assert keys_in_order(a1.records() + a2.records())
    b.wait(1, what="b's event")
    assert "configuration reloaded" in m.log_text()


def bad_mount(tmp_path, text, mode=0o600, opts=()):
    cfg = tmp_path / "bad.conf"
    cfg.write_text(text)
    os.chmod(cfg, mode)
    m = Mount(tmp_path / "badmnt", opts=["passthrough=off",
                                         f"config={cfg}", *opts])
    return m, cfg


@pytest.mark.parametrize("text,line,key,why", [
    ('[webhook "a"]\nendpoint = http://x\nqueue_limit = lots\n', 3,
     "queue_limit", "whole number"),
    ('[webhook "a"]\nauth_token = hunter2\n', 1, "endpoint", "required"),
    ('[webhook "a"]\nendpoint = gopher://hunter2\n', 2, "endpoint",
     "http://"),
    ('[webhook "a"]\nendpoint = http://x\nendpiont = y\n', 3, "endpiont",
     "unknown key"),
    ('[kafka "a"]\nbrokers = x\n', 1, "", "unknown target type"),
    ('[webhook "a"]\nendpoint = http://x\nclient_cert = /nonexistent\n', 1,
     "", "client_key"),
    ('[webhook "a"]\nendpoint = http://x\nretry_min = 5s\nretry_max = 1s\n',
     4, "retry_max", "retry_min"),
])
def test_bad_config_refuses_mount(tmp_path, text, line, key, why):
    m, cfg = bad_mount(tmp_path, text)
    m.start(wait=False)
    rc = m.proc.wait(timeout=30)
    out = m.log_text()
    m.check(None)
    assert rc != 0
    assert f"{cfg}:{line}" in out, out
    if key:
        assert f": {key}: " in out, out
    assert why in out, out
    assert "hunter2" not in out


def test_world_readable_secrets(tmp_path, hook):
    srv = hook()
    text = f'[webhook "a"]\nendpoint = {srv.url}\nauth_token = hunter2\n'
    m, cfg = bad_mount(tmp_path, text, mode=0o644)
    m.start(wait=False)
    assert m.proc.wait(timeout=30) != 0
    assert "chmod 600" in m.log_text() and "hunter2" not in m.log_text()
    m.check(None)
    m2, _ = bad_mount(tmp_path, text, mode=0o644, opts=["insecure_config"])
    m2.start()
    try:
        assert "others can read" in m2.log_text()
        assert "hunter2" not in m2.log_text()
    finally:
        m2.check(m2.stop())


def test_sighup_bad_config_keeps_running_one(mount_factory, tmp_path, hook):
    srv = hook()
    m = make_target_mount(mount_factory, tmp_path, {"a": {"endpoint": srv.url}})
    subscribe(m, tid="a")
    m.config.write_text('[webhook "a"]\nendpoint = http://x\nbogus = 1\n')
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in m.log_text(), what="the refusal")
    assert f"{m.config}:3: bogus: unknown key" in m.log_text()
    (m.bucket() / "still").write_text("1")
    srv.wait(1, what="delivery by the kept configuration")


def test_sighup_refused_by_a_target_keeps_validation_on_running_one(
        mount_factory, tmp_path, hook):
    # A configuration that parses but that a target refuses to open
    # (client_cert without client_key): the reload is refused, rules
    # naming the refused target are refused again, the running one works.
    srv = hook()
    m = make_target_mount(mount_factory, tmp_path, {"a": {"endpoint": srv.url}})
    subscribe(m, tid="a")
    cert = tmp_path / "cert.pem"
    cert.write_text("not used\n")
    write_config(m.config, {"a": {"endpoint": srv.url},
                            "b": {"endpoint": srv.url,
                                  "client_cert": str(cert)}})
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in m.log_text(), what="the refusal")
    assert "client_key go together" in m.log_text()
    assert "b:webhook" not in targets(m)
    from conftest import rules_error, rules_xml, set_rules
    with pytest.raises(OSError) as e:
        set_rules(m.bucket("beta"), rules_xml(
            {"id": "to-b", "events": ["s3:ObjectCreated:*"],
             "arn": "arn:bucketfs:sqs::b:webhook"}))
    assert e.value.errno == errno.EINVAL
    assert rules_error(m.bucket("beta")).startswith("InvalidArgument")
    (m.bucket() / "still").write_text("1")
    srv.wait(1, what="delivery by the kept configuration")
