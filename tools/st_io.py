"""safetensors read/write for the Python reference tools (no `safetensors` package needed): 8-byte
little-endian header length, JSON header (optionally with __metadata__), raw little-endian data."""
import json
import struct

import numpy as np
import torch

DT = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64}
CODE = {np.dtype(np.float32): 'F32', np.dtype(np.float64): 'F64', np.dtype(np.int64): 'I64'}


def read_st(path, with_metadata=False):
    """{name: tensor}, or ({name: tensor}, metadata) with with_metadata."""
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        b, e = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[b:e], dtype=DT[v['dtype']]).reshape(v['shape']).copy())
    return (out, header.get('__metadata__', {})) if with_metadata else out


def write_st(path, tensors, metadata=None):
    header, chunks, off = ({} if metadata is None else {'__metadata__': metadata}), [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k].detach().numpy())
        b = a.tobytes()
        header[k] = {'dtype': CODE[a.dtype], 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(chunks))
