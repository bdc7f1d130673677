"""Webhook delivery through a real mount to real HTTP servers on loopback:
the envelope and records of each event kind (compared with the embedded
log), headers (auth, event id, HMAC signature), s3:TestEvent (and one
the receiver keeps refusing, dropped after max_attempts), per-key
order, batches, retries with backoff on 500, dead letters on 400 with the
queue flowing behind them, `bucketfs deadletter`, queue_limit drops,
the environment form of the configuration, and TLS (CA, mutual TLS,
an untrusted server refused and retried, not lost)."""
import hashlib
import hmac
import json
import os
import ssl
import subprocess
import time
import urllib.parse

import pytest

from conftest import (bucketfs_bin, bucketfs_events, daemon_env, rules_xml,
                      set_rules, wait_for, LOCAL_ARN)
from delivery_util import (free_port, make_pki, make_target_mount, seqs,
                           subscribe, targets, wait_target, webhook_arn,
                           write_config)
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


def deadletter(*args):
    p = subprocess.run([bucketfs_bin(), "deadletter", *map(str, args)],
                       capture_output=True, text=True, timeout=30,
                       env=daemon_env(), stdin=subprocess.DEVNULL)
    assert "Sanitizer" not in p.stderr, p.stderr
    return p


def test_envelope_records_headers(mount_factory, tmp_path, hook):
    srv = hook()
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": srv.url, "auth_token": "tok-123",
        "secret": "hmac-key"}})
    events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    # The same configuration Id sends one record to both the log and the
    # webhook, so the log is the reference for the exact records.
    set_rules(m.bucket(), rules_xml(
        {"id": "c1", "events": events, "arn": webhook_arn()},
        {"id": "c1", "events": events, "arn": LOCAL_ARN}))
    srv.wait(lambda h: len(h) >= 1, what="s3:TestEvent")
    test = srv.hits[0].json
    assert test["Event"] == "s3:TestEvent" and test["Bucket"] == "alpha"
    b = m.bucket()
    (b / "a.txt").write_text("hello")
    (b / "dir with space").mkdir()
    (b / "dir with space" / "ü.bin").write_bytes(b"\0" * 10)
    os.rename(b / "a.txt", b / "b.txt")
    os.unlink(b / "b.txt")
    log = [r for r in bucketfs_events(m)]
    assert len(log) >= 4
    srv.wait(len(log), what="every logged record")
    got = srv.records()
    assert got == log
    for h in srv.hits[1:]:
        assert h.headers["content-type"] == "application/json"
        assert h.headers["authorization"] == "Bearer tok-123"
        rec = h.json["Records"][0]
        assert h.json["EventName"] == rec["eventName"]
        key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
        assert h.json["Key"] == f"{rec['s3']['bucket']['name']}/{key}"
        assert int(h.headers["x-bucketfs-event-id"]) == int(
            rec["s3"]["object"]["sequencer"], 16)
        want = hmac.new(b"hmac-key", h.body, hashlib.sha256).hexdigest()
        assert h.headers["x-bucketfs-signature"] == f"sha256={want}"
    names = [r["eventName"] for r in got]
    assert "s3:ObjectCreated:Put" in names and "s3:ObjectRemoved:Delete" in names
    t = targets(m)["primary:webhook"]
    assert t["arn"] == "arn:bucketfs:sqs:us-east-1:primary:webhook"
    assert t["delivered"] == len(log) and t["queued"] == 0
    assert t["lastSuccessTime"]
    # Secrets appear nowhere we show.
    shown = ((m.mnt / ".bucketfs" / "targets").read_text()
             + (m.mnt / ".bucketfs" / "metrics").read_text() + m.log_text())
    assert "tok-123" not in shown and "hmac-key" not in shown


def test_per_key_order_and_batches(mount_factory, tmp_path, hook):
    # The receiver starts after the writes, so a backlog is batched.
    port = free_port()
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": f"http://127.0.0.1:{port}/hook", "batch_size": 20,
        "retry_min": "50ms", "retry_max": "100ms"}})
    subscribe(m)
    b = m.bucket()
    for i in range(60):
        (b / f"k{i % 3}").write_text(str(i))
    wait_target(m, lambda t: t.get("queued") == 60, "the backlog")
    srv = hook(port=port)
    srv.wait(60)
    recs = srv.records()
    per_key = {}
    for r in recs:
        per_key.setdefault(r["s3"]["object"]["key"], []).append(
            int(r["s3"]["object"]["sequencer"], 16))
    for k, s in per_key.items():
        assert s == sorted(s), f"{k} out of order"
    ids = seqs(srv.hits)
    assert ids == sorted(ids) and len(ids) == 60
    assert any(len(h.json.get("Records", [])) > 1 for h in srv.hits
               if isinstance(h.json, dict))


def test_500_retried_with_backoff(mount_factory, tmp_path, hook):
    fails = 4
    srv = hook(status=lambda i, h: 500 if i <= fails else 200)
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": srv.url, "retry_min": "100ms", "retry_max": "2s",
        "max_attempts": 20}})
    subscribe(m)
    hits = srv.wait(lambda h: len(h) >= 1)      # the test event (a 500)
    (m.bucket() / "x").write_text("1")
    hits = srv.wait(lambda h: any(x.status == 200 and x.json.get("Records")
                                  for x in h), what="delivery after 500s")
    times = [h.time for h in hits]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # Equal jitter: retry n waits between 50% and 100% of 100ms * 2^(n-1).
    for n, g in enumerate(gaps[:fails], start=1):
        base = 0.1 * 2 ** (n - 1)
        assert base * 0.45 <= g <= base * 1.0 + 0.5, (n, gaps)
    assert gaps[fails - 1] > gaps[0]
    t = targets(m)["primary:webhook"]
    assert t["failed"] >= fails - 1 and t["deadLetters"] == 0
    assert "HTTP 500" in t["lastError"]


def test_failing_test_event_does_not_hold_the_queue(mount_factory, tmp_path,
                                                    hook):
    """A receiver that answers every s3:TestEvent with a 500 (it has no
    Records) gets it max_attempts times; then it is dropped and the real
    events behind it flow."""
    def is_test(h):
        return isinstance(h.json, dict) and h.json.get("Event") == \
            "s3:TestEvent"
    srv = hook(status=lambda i, h: 500 if is_test(h) else 200)
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": srv.url, "retry_min": "50ms", "retry_max": "200ms",
        "max_attempts": 3}})
    subscribe(m)
    (m.bucket() / "x").write_text("1")
    srv.wait(lambda h: any(x.json and x.json.get("Records") for x in h),
             what="the Put behind the failing test event")
    assert [r["s3"]["object"]["key"] for r in srv.records()] == ["x"]
    assert sum(1 for h in srv.hits if is_test(h)) == 3
    assert "dropped" in m.log.read_text()

def test_400_dead_letter_queue_flows(mount_factory, tmp_path, hook):
    poison = {"n": 0}

    def status(i, h):
        if isinstance(h.json, dict) and h.json.get("Key", "").endswith(
                "poison") and not poison.get("ok"):
            poison["n"] += 1
            return 400
        return 200
    srv = hook(status=status)
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": srv.url, "retry_min": "50ms"}})
    subscribe(m)
    b = m.bucket()
    (b / "before").write_text("1")
    (b / "poison").write_text("2")
    for i in range(5):
        (b / f"after{i}").write_text("3")
    srv.wait(6, what="the events around the poison one")
    assert poison["n"] == 1
    keys = [r["s3"]["object"]["key"] for r in srv.records()]
    assert keys == ["before"] + [f"after{i}" for i in range(5)]
    wait_target(m, lambda t: t.get("deadLetters") == 1, "a dead letter")
    p = deadletter("list", m.mnt)
    assert p.returncode == 0, p.stderr
    dl = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(dl) == 1 and dl[0]["key"] == "poison"
    assert dl[0]["target"] == "primary:webhook" and "HTTP 400" in dl[0]["error"]
    assert dl[0]["record"]["s3"]["object"]["key"] == "poison"
    poison["ok"] = True
    p = deadletter("retry", m.mnt, "--target", "primary:webhook")
    assert p.returncode == 0 and p.stdout.startswith("1 "), p.stdout
    srv.wait(7, what="the retried dead letter")
    wait_target(m, lambda t: t.get("deadLetters") == 0 and t["queued"] == 0,
                "the dead letter gone")
    assert deadletter("list", "--state", m.state).stdout == ""
    p = deadletter("purge", m.mnt)
    assert p.returncode == 0 and p.stdout.startswith("0 ")
    assert deadletter("frob", m.mnt).returncode == 2


def test_deadletter_list_key_not_utf8(mount_factory, tmp_path, hook):
    """Keys are raw file-name bytes: one that is not UTF-8 is listed with
    U+FFFD for each bad byte (as in its record), and the listing goes on
    past it."""
    srv = hook(status=lambda i, h: 400 if isinstance(h.json, dict) and
               "poison" in h.json.get("Key", "") else 200)
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": srv.url, "retry_min": "50ms"}})
    subscribe(m)
    with open(os.path.join(os.fsencode(m.bucket()), b"poison-\xff\xfe"),
              "wb") as f:
        f.write(b"1")
    (m.bucket() / "poison-ok").write_text("2")
    wait_target(m, lambda t: t.get("deadLetters") == 2, "two dead letters")
    p = deadletter("list", m.mnt)
    assert p.returncode == 0, p.stderr
    dl = [json.loads(x) for x in p.stdout.splitlines()]
    assert [d["key"] for d in dl] == ["poison-\ufffd\ufffd", "poison-ok"]
    assert dl[0]["bucket"] == "alpha" and "HTTP 400" in dl[0]["error"]
    assert "poison-" in dl[0]["record"]["s3"]["object"]["key"]


def test_deadletter_kick_symlink_not_followed(mount_factory, tmp_path):
    """retry and purge touch STATE/deliver.kick to wake the daemon: a
    symbolic link there is not followed (its target, perhaps a file only
    root may write, stays as it was) and the command says the daemon was
    not told, with exit status 1, the change itself being made."""
    m = mount_factory(opts=["passthrough=off"])
    victim = tmp_path / "victim"
    victim.write_text("precious")
    kick = m.state / "deliver.kick"
    if os.path.lexists(kick):
        kick.unlink()
    os.symlink(victim, kick)
    for cmd in ("retry", "purge"):
        p = deadletter(cmd, "--state", m.state)
        assert victim.read_text() == "precious"
        assert kick.is_symlink()
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert p.stdout.startswith("0 dead letters"), p.stdout
        assert "deliver.kick" in p.stderr and "symbolic link" in p.stderr, \
            p.stderr
    # A regular file is opened and closed, never truncated: closing it is
    # the message (IN_CLOSE_WRITE).
    kick.unlink()
    kick.write_text("kept")
    p = deadletter("retry", m.mnt)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert kick.read_text() == "kept"


def test_queue_limit_drops_counted(mount_factory, tmp_path):
    port = free_port()  # nobody listens: the target is down
    m = make_target_mount(mount_factory, tmp_path, {"primary": {
        "endpoint": f"http://127.0.0.1:{port}/", "queue_limit": 5,
        "retry_min": "5s", "retry_max": "5s"}})
    subscribe(m)
    t0 = time.monotonic()
    for i in range(20):
        (m.bucket() / f"f{i}").write_text("x")
    assert time.monotonic() - t0 < 10
    t = targets(m)["primary:webhook"]
    assert t["queued"] == 5 and t["dropped"] == 15
    assert t["state"] in ("unreachable", "retrying", "delivering")
    metrics = (m.mnt / ".bucketfs" / "metrics").read_text()
    assert 'bucketfs_target_dropped_total{target="primary:webhook"} 15' in metrics
    assert 'bucketfs_events_dropped_total{event="s3:ObjectCreated:Put"} 15' in metrics


def test_environment_config(mount_factory, hook, monkeypatch):
    srv = hook()
    monkeypatch.setenv("BUCKETFS_NOTIFY_WEBHOOK_ENABLE_ENVHOOK", "on")
    monkeypatch.setenv("BUCKETFS_NOTIFY_WEBHOOK_ENDPOINT_ENVHOOK", srv.url)
    monkeypatch.setenv("BUCKETFS_NOTIFY_WEBHOOK_AUTH_TOKEN_ENVHOOK",
                       "Basic abc")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    monkeypatch.setenv("HOME", "/nonexistent")
    m = mount_factory(opts=["passthrough=off"])
    subscribe(m, tid="ENVHOOK")
    (m.bucket() / "e").write_text("1")
    srv.wait(1)
    h = [x for x in srv.hits if x.json.get("Records")][0]
    assert h.headers["authorization"] == "Basic abc"
    assert "ENVHOOK:webhook" in targets(m)


def tls_server(pki, hook, client_ca=False, rogue=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if rogue:
        ctx.load_cert_chain(pki["rogue"], pki["rogue_key"])
    else:
        ctx.load_cert_chain(pki["server"], pki["server_key"])
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki["ca"])
    return hook(tls=ctx)


@pytest.mark.skipif(subprocess.run(["which", "openssl"],
                                   capture_output=True).returncode != 0,
                    reason="no openssl CLI")
def test_tls_ca_mutual_and_untrusted(mount_factory, tmp_path, hook):
    pki = make_pki(tmp_path / "pki")
    plain = tls_server(pki, hook)
    mutual = tls_server(pki, hook, client_ca=True)
    rogue = tls_server(pki, hook, rogue=True)
    m = make_target_mount(mount_factory, tmp_path, {
        "ca": {"endpoint": plain.url, "tls_ca": pki["ca"]},
        "mtls": {"endpoint": mutual.url, "tls_ca": pki["ca"],
                 "client_cert": pki["client"],
                 "client_key": pki["client_key"]},
        "untrusted": {"endpoint": rogue.url, "tls_ca": pki["ca"],
                      "retry_min": "100ms", "retry_max": "300ms"}})
    for tid in ("ca", "mtls", "untrusted"):
        set_rules(m.bucket("beta" if tid == "untrusted" else "alpha"),
                  rules_xml(*[{"id": t, "events": ["s3:ObjectCreated:*"],
                               "arn": webhook_arn(t)}
                              for t in (("ca", "mtls") if tid != "untrusted"
                                        else ("untrusted",))]))
    (m.bucket("alpha") / "s").write_text("1")
    (m.bucket("beta") / "u").write_text("1")
    plain.wait(1)
    mutual.wait(1)
    wait_target(m, lambda t: t.get("state") == "unreachable" and
                "certificate" in (t.get("lastError") or "").lower()
                or "verif" in (t.get("lastError") or "").lower(),
                "the untrusted server refused", tid="untrusted")
    t = targets(m)["untrusted:webhook"]
    assert t["queued"] == 1 and t["deadLetters"] == 0 and t["delivered"] == 0
    assert rogue.records() == []
    # Trust it (its own certificate as the CA) and reload: delivered.
    write_config(m.config, {
        "ca": {"endpoint": plain.url, "tls_ca": pki["ca"]},
        "mtls": {"endpoint": mutual.url, "tls_ca": pki["ca"],
                 "client_cert": pki["client"],
                 "client_key": pki["client_key"]},
        "untrusted": {"endpoint": rogue.url, "tls_ca": pki["rogue"]}})
    m.proc.send_signal(1)
    rogue.wait(1, what="delivery once trusted")
