#!/usr/bin/env python3
"""crafted.py - how the crafted-*.parquet fixtures were made.

gen.mjs makes well-formed files with DuckDB; these are built by hand, byte
by byte, to be what no writer makes: damaged, hostile or contradictory
files the reader must refuse cleanly (or read without undefined
behaviour).  A minimal Thrift compact-protocol encoder is enough.  To make
them again:
  python3 tests/select/parquet/crafted.py DIR
With --budget it writes budget.parquet instead (not committed: reading it
takes about 1 GiB before the reader gives up): 24 BOOLEAN columns of 8M
rows whose counts all agree, for measuring the reader's memory bound.
"""
import os
import struct
import sys

I32, I64, BIN, LIST, STRUCT = 5, 6, 8, 9, 12


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zz(n):
    return (n << 1) ^ (n >> 63)


class S:
    """A Thrift struct: (field id, type, value) triples, in order."""

    def __init__(self, *fields):
        self.fields = fields

    def enc(self):
        out, last = bytearray(), 0
        for fid, t, v in self.fields:
            d = fid - last
            if 0 < d <= 15:
                out.append((d << 4) | t)
            else:  # the long form, also for a field id given again
                out.append(t)
                out += varint(zz(fid))
            last = fid
            out += encv(t, v)
        out.append(0)
        return bytes(out)


def encv(t, v):
    if t in (I32, I64):
        return varint(zz(v))
    if t == BIN:
        v = v.encode() if isinstance(v, str) else v
        return varint(len(v)) + v
    if t == STRUCT:
        return v.enc()
    if t == LIST:
        et, items = v
        n = len(items)
        h = bytes([(n << 4) | et]) if n < 15 else \
            bytes([0xf0 | et]) + varint(n)
        return h + b''.join(encv(et, x) for x in items)
    raise ValueError(t)


def schema_el(name, type_=None, rep=None, nchildren=None, conv=None):
    f = []
    if type_ is not None:
        f.append((1, I32, type_))
    if rep is not None:
        f.append((3, I32, rep))
    f.append((4, BIN, name))
    if nchildren is not None:
        f.append((5, I32, nchildren))
    if conv is not None:
        f.append((6, I32, conv))
    return S(*f)


def colmeta(type_, nvals, size, offset):
    return S((1, I32, type_), (2, LIST, (I32, [0])), (3, LIST, (BIN, [b'x'])),
             (4, I32, 0), (5, I64, nvals), (6, I64, size), (7, I64, size),
             (9, I64, offset))


def chunk(cm):
    return S((2, I64, 0), (3, STRUCT, cm))


def rowgroup(chunks, nrows):
    return S((1, LIST, (STRUCT, chunks)), (2, I64, 0), (3, I64, nrows))


def filemeta(schema, nrows, rgs):
    return S((1, I32, 1), (2, LIST, (STRUCT, schema)), (3, I64, nrows),
             (4, LIST, (STRUCT, rgs)))


def page(nvals, enc, body):
    """A v1 data page (uncompressed) of nvals level entries."""
    dph = S((1, I32, nvals), (2, I32, enc), (3, I32, 3), (4, I32, 3))
    return S((1, I32, 0), (2, I32, len(body)), (3, I32, len(body)),
             (5, STRUCT, dph)).enc() + body


def finish(body, footer):
    f = footer.enc()
    return b'PAR1' + body + f + struct.pack('<I', len(f)) + b'PAR1'


def rle_run(val, count):
    """One RLE run of a value of width <= 8, with its length prefix."""
    r = varint(count << 1) + bytes([val])
    return struct.pack('<I', len(r)) + r


def bool_columns(k, rows, chunk_vals, page_vals):
    """k required BOOLEAN columns, each one RLE page of page_vals trues:
    ten bytes that claim 8M values (128 MiB decoded) each."""
    pg = page(page_vals, 3, rle_run(1, page_vals))
    body, chunks = b'', []
    for _ in range(k):
        chunks.append(chunk(colmeta(0, chunk_vals, len(pg), 4 + len(body))))
        body += pg
    schema = [schema_el('root', nchildren=k)] + \
        [schema_el('c%d' % i, type_=0, rep=0) for i in range(k)]
    return finish(body, filemeta(schema, rows, [rowgroup(chunks, rows)]))


M = 8 * 1024 * 1024


def membomb():
    """A row group of 1 row whose pages claim 8M values each."""
    return bool_columns(24, 1, M, M)


def chunkvals():
    """8M rows, but the chunk says 1 value and its page 8M."""
    return bool_columns(1, M, 1, M)


def dupleak():
    """The row group list (FileMetaData field 4) twice: the first counts."""
    pg = page(3, 0, struct.pack('<3i', 7, 8, 9))
    schema = [schema_el('root', nchildren=1), schema_el('a', type_=1, rep=0)]
    rg = rowgroup([chunk(colmeta(1, 3, len(pg), 4))], 3)
    fm = S((1, I32, 1), (2, LIST, (STRUCT, schema)), (3, I64, 3),
           (4, LIST, (STRUCT, [rg, rg])), (4, LIST, (STRUCT, [rg])))
    return finish(pg, fm)


def dateovf():
    """DATE (converted type 6) on an INT64 of 2^62 days."""
    pg = page(1, 0, struct.pack('<q', 2**62))
    schema = [schema_el('root', nchildren=1),
              schema_el('d', type_=2, rep=0, conv=6)]
    rg = rowgroup([chunk(colmeta(2, 1, len(pg), 4))], 1)
    return finish(pg, filemeta(schema, 1, [rg]))


def structnull():
    """An optional struct s {optional a; optional b} whose leaves disagree:
    a says s is null (level 0), b has a value (level 2)."""
    a = page(1, 0, rle_run(0, 1))
    b = page(1, 0, rle_run(2, 1) + struct.pack('<i', 5))
    schema = [schema_el('root', nchildren=1),
              schema_el('s', rep=1, nchildren=2),
              schema_el('a', type_=1, rep=1), schema_el('b', type_=1, rep=1)]
    rg = rowgroup([chunk(colmeta(1, 1, len(a), 4)),
                   chunk(colmeta(1, 1, len(b), 4 + len(a)))], 1)
    return finish(a + b, filemeta(schema, 1, [rg]))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    out = args[0] if args else '.'
    files = {'crafted-membomb': membomb, 'crafted-chunkvals': chunkvals,
             'crafted-dupleak': dupleak, 'crafted-dateovf': dateovf,
             'crafted-structnull': structnull}
    if '--budget' in sys.argv:
        files = {'budget': lambda: bool_columns(24, M, M, M)}
    for name, make in files.items():
        with open(os.path.join(out, name + '.parquet'), 'wb') as f:
            f.write(make())


if __name__ == '__main__':
    main()
