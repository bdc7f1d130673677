"""`bucketfs select FILE SQL [options]`: the contract scripts rely on.

The concatenated records go to stdout and the exit status is 0; on failure
the status is 1 and the first line of stderr is `<S3ErrorCode>: message`
(for a bad query followed by the query with a caret); 2 for bad usage.
Covers --stats, stdin, GZIP/BZIP2 inputs and scan ranges.  No mount.
"""
import bz2
import gzip
import re
import subprocess

from conftest import TIMEOUT, bucketfs_bin, daemon_env, sanitizer_report

PEOPLE = b"name,age,city\nann,40,Paris\nbob,20,Lisbon\ncid,35,Paris\n"
NDJSON = (b'{"id":1,"name":"alice","tags":["a","b"]}\n'
          b'{"id":2,"name":"bob","tags":[]}\n'
          b'{"id":3,"name":"alina"}\n')


def sel(*args, stdin=None):
    """Run `bucketfs select ARGS`; fail on sanitizer output."""
    p = subprocess.run([bucketfs_bin(), "select"] + [str(a) for a in args],
                       input=stdin if stdin is not None else b"",
                       capture_output=True, timeout=TIMEOUT, env=daemon_env())
    err = p.stderr.decode(errors="replace")
    rep = sanitizer_report(err)
    assert not rep, f"sanitizer report ({rep}):\n{err[-8000:]}"
    return p.returncode, p.stdout, err


def code_of(err):
    """The S3 error code of stderr's first line (`Code: message`)."""
    first = err.splitlines()[0] if err else ""
    m = re.match(r"^([A-Za-z0-9]+): ", first)
    assert m, f"stderr's first line is not 'Code: message': {err!r}"
    return m.group(1)


def test_csv_header_records_on_stdout(tmp_path):
    f = tmp_path / "people.csv"
    f.write_bytes(PEOPLE)
    rc, out, err = sel(f, "SELECT s.name FROM S3Object s "
                          "WHERE CAST(s.age AS INT) > 30", "--header")
    assert (rc, out, err) == (0, b"ann\ncid\n", "")


def test_csv_default_is_file_header_none(tmp_path):
    """Without --header S3's default NONE holds: the header is a record."""
    f = tmp_path / "people.csv"
    f.write_bytes(PEOPLE)
    rc, out, _ = sel(f, "SELECT COUNT(*) FROM S3Object")
    assert (rc, out) == (0, b"4\n")
    rc, _, err = sel(f, "SELECT s.name FROM S3Object s")
    assert rc == 1 and code_of(err) == "EvaluatorBindingDoesNotExist"


def test_bad_query_code_and_caret(tmp_path):
    f = tmp_path / "people.csv"
    f.write_bytes(PEOPLE)
    q = "SELECT s.name FROM S3Object s WHERE ("
    rc, out, err = sel(f, q, "--header")
    assert rc == 1 and out == b""
    assert code_of(err) == "ParseExpectedExpression"
    lines = err.splitlines()
    assert lines[1].strip() == q
    caret = lines[2].index("^") - lines[1].index("S")
    assert caret == len(q), lines


def test_data_error_after_records(tmp_path):
    """Records before the failing one are delivered, and the status is 1."""
    f = tmp_path / "n.csv"
    f.write_bytes(b"1\n2\nx\n4\n")
    rc, out, err = sel(f, "SELECT CAST(_1 AS INT) FROM S3Object")
    assert rc == 1
    assert out == b"1\n2\n"
    assert code_of(err) == "CastFailed"


def test_missing_file_and_usage(tmp_path):
    rc, out, err = sel(tmp_path / "nope.csv", "SELECT * FROM S3Object")
    assert rc == 1 and out == b"" and code_of(err) == "NoSuchKey"
    rc, _, err = sel(tmp_path / "x.csv")
    assert rc == 2 and "usage" in err
    rc, _, err = sel(tmp_path / "x.csv", "SELECT 1 FROM S3Object", "--bogus")
    assert rc == 2


def test_stats(tmp_path):
    f = tmp_path / "people.csv"
    f.write_bytes(PEOPLE)
    rc, out, err = sel(f, "SELECT s.city FROM S3Object s", "--header",
                       "--stats")
    assert rc == 0 and out == b"Paris\nLisbon\nParis\n"
    m = re.search(r"<Stats><BytesScanned>(\d+)</BytesScanned>"
                  r"<BytesProcessed>(\d+)</BytesProcessed>"
                  r"<BytesReturned>(\d+)</BytesReturned></Stats>", err)
    assert m, err
    assert [int(x) for x in m.groups()] == [len(PEOPLE), len(PEOPLE),
                                           len(out)]


def test_stats_on_failure_keeps_the_code_first(tmp_path):
    f = tmp_path / "people.csv"
    f.write_bytes(PEOPLE)
    rc, _, err = sel(f, "SELECT nope FROM S3Object", "--header", "--stats")
    assert rc == 1 and code_of(err) == "EvaluatorBindingDoesNotExist"
    assert "<Stats>" in err


def test_stdin(tmp_path):
    rc, out, _ = sel("-", "SELECT s.age FROM S3Object s WHERE s.city = "
                          "'Paris'", "--csv", "--header", stdin=PEOPLE)
    assert (rc, out) == (0, b"40\n35\n")
    rc, out, _ = sel("-", "SELECT s.id FROM S3Object s", "--json-lines",
                     "--output", "json", stdin=NDJSON)
    assert (rc, out) == (0, b'{"id":1}\n{"id":2}\n{"id":3}\n')


def test_gzip_and_bzip2_inputs(tmp_path):
    gz = tmp_path / "people.csv.gz"
    gz.write_bytes(gzip.compress(PEOPLE))
    rc, out, err = sel(gz, "SELECT COUNT(*) FROM S3Object", "--stats")
    assert (rc, out) == (0, b"4\n")
    scanned = int(re.search(r"<BytesScanned>(\d+)", err).group(1))
    processed = int(re.search(r"<BytesProcessed>(\d+)", err).group(1))
    assert scanned == gz.stat().st_size and processed == len(PEOPLE)
    bz = tmp_path / "d.ndjson.bz2"
    bz.write_bytes(bz2.compress(NDJSON))
    rc, out, _ = sel(bz, "SELECT s.name FROM S3Object s WHERE s.name LIKE "
                         "'ali%'")
    assert (rc, out) == (0, b"alice\nalina\n")
    # The same through explicit serializations, on a name that says nothing.
    raw = tmp_path / "blob"
    raw.write_bytes(gzip.compress(NDJSON))
    rc, out, _ = sel(raw, "SELECT s.id FROM S3Object s WHERE s.id > 1",
                     "--input-serialization",
                     '{"JSON":{"Type":"LINES"},"CompressionType":"GZIP"}',
                     "--output-serialization", '{"JSON":{}}')
    assert (rc, out) == (0, b'{"id":2}\n{"id":3}\n')


def test_truncated_gzip(tmp_path):
    data = gzip.compress(PEOPLE * 2000)
    f = tmp_path / "cut.csv.gz"
    f.write_bytes(data[:len(data) // 2])
    rc, _, err = sel(f, "SELECT COUNT(*) FROM S3Object")
    assert rc == 1 and code_of(err) == "TruncatedInput", err


def test_malformed_json_line(tmp_path):
    f = tmp_path / "bad.ndjson"
    f.write_bytes(b'{"a":1}\n{"a":\n{"a":3}\n')
    rc, _, err = sel(f, "SELECT COUNT(*) FROM S3Object")
    assert rc == 1 and code_of(err) == "JSONParsingError", err


def test_scan_ranges(tmp_path):
    f = tmp_path / "r.csv"
    f.write_bytes(b"A,B\nC,D\nE,F\nG,H\n")
    # The AWS doc example: Start=1,End=4 gives the record that starts in
    # the range (C,D), read to its end.
    rc, out, _ = sel(f, "SELECT * FROM S3Object", "--scan-range",
                     "Start=1,End=4")
    assert (rc, out) == (0, b"C,D\n")
    rc, out, _ = sel(f, "SELECT * FROM S3Object", "--scan-range", "Start=0,End=0")
    assert (rc, out) == (0, b"A,B\n")
    # Only End: the last N bytes.
    rc, out, _ = sel(f, "SELECT * FROM S3Object", "--scan-range", "End=4")
    assert (rc, out) == (0, b"G,H\n")
    rc, out, _ = sel(f, "SELECT * FROM S3Object", "--scan-range", "Start=5")
    assert (rc, out) == (0, b"E,F\nG,H\n")
    nd = tmp_path / "r.ndjson"
    nd.write_bytes(NDJSON)
    first_end = NDJSON.index(b"\n") + 1
    rc, out, _ = sel(nd, "SELECT s.id FROM S3Object s", "--scan-range",
                     f"Start=1,End={first_end}")
    assert (rc, out) == (0, b"2\n")
    rc, _, err = sel(f, "SELECT * FROM S3Object", "--scan-range",
                     "Start=9,End=2")
    assert rc == 1 and code_of(err) == "InvalidRequestParameter"
    gz = tmp_path / "r.csv.gz"
    gz.write_bytes(gzip.compress(b"A,B\n"))
    rc, _, err = sel(gz, "SELECT * FROM S3Object", "--scan-range", "Start=0")
    assert rc == 1 and code_of(err) == "InvalidRequestParameter"


PARQUET = (__import__("pathlib").Path(__file__).resolve().parent.parent
           / "select" / "parquet")


def test_parquet_inferred_flag_and_stats(tmp_path):
    """`.parquet` is inferred; --parquet forces it; --stats counts the bytes
    read (the footer, the pages of the columns read)."""
    f = tmp_path / "t.parquet"
    f.write_bytes((PARQUET / "basic-snappy.parquet").read_bytes())
    rc, out, err = sel(f, "SELECT s.name FROM S3Object s WHERE s.id = 9")
    assert (rc, out, err) == (0, b"eve9\n", "")
    g = tmp_path / "noext"
    g.write_bytes(f.read_bytes())
    rc, out, err = sel(g, "SELECT COUNT(*) FROM S3Object", "--parquet",
                       "--stats")
    assert (rc, out) == (0, b"20\n")
    scanned = int(re.search(r"<BytesScanned>(\d+)<", err).group(1))
    processed = int(re.search(r"<BytesProcessed>(\d+)<", err).group(1))
    assert 8 < scanned == processed < len(f.read_bytes())


def test_parquet_needs_a_regular_file(tmp_path):
    data = (PARQUET / "times.parquet").read_bytes()
    rc, out, err = sel("-", "SELECT * FROM S3Object", "--parquet",
                       stdin=data)
    assert rc == 1 and code_of(err) == "InvalidRequestParameter"
    assert "regular file" in err
