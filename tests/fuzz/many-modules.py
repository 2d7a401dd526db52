#!/usr/bin/env python3
# Writes a hostile trace: N MODULE records that all name the same file, at
# different biases, and stacks with a pc in each. Before symbolize.c loaded
# each file once, `loopsan report` spent 44 s and 8 GB on the trace made by
#   tests/fuzz/many-modules.py 512 /lib/x86_64-linux-gnu/libc.so.6 \
#       tests/fuzz/regress/many-modules-one-file.trace
# (with libc6-dbg installed), far beyond the fuzz target's 10 s timeout.
import struct, sys
N = int(sys.argv[1]); path = sys.argv[2].encode(); out = sys.argv[3]
def rec(t, arg, payload):
    payload += b'\0' * ((-(8 + len(payload))) % 8)
    return struct.pack('<HHI', t, 8 + len(payload), arg) + payload
recs = rec(1, 100, b'main'.ljust(16, b'\0'))
# libc text near offset 0x28000..; module i at bias i<<32
for i in range(N):
    bias = (i + 1) << 32
    recs += rec(2, i + 1, struct.pack('<QQQB32s5sH', bias, bias, bias + 0x200000, 0, b'', b'', len(path)) + path)
nst = (N + 63) // 64
for s in range(nst):
    pcs = [((i + 1) << 32) + 0x29d90 for i in range(s * 64, min(N, s * 64 + 64))]
    recs += rec(3, s + 1, struct.pack('<II', len(pcs), 0) + b''.join(struct.pack('<Q', p) for p in pcs))
    recs += rec(4, s + 1, struct.pack('<IIQ', 2, s + 1, 0x1400))
    recs += rec(9, s + 1, struct.pack('<QQQ', 0, 10**9, 0))
hdr = bytearray(4096)
struct.pack_into('<8sIIII', hdr, 0, b'LOOPSAN\0', 1, 4096, 1 << 16, 1)
struct.pack_into('<I', hdr, 56, 100)
struct.pack_into('<I', hdr, 3200, 1)
cs = 1 << 16
assert len(recs) + 32 <= cs, len(recs)
ch = bytearray(cs)
struct.pack_into('<IIII', ch, 0, 0x4b43534c, 100, 0, len(recs))
ch[32:32 + len(recs)] = recs
open(out, 'wb').write(bytes(hdr) + bytes(ch))
