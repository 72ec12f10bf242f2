#!/usr/bin/env python3
"""Writes the seed corpus of tools/fuzz/fuzz_safetensors (tools/fuzz/corpus/*.safetensors): small
valid files covering every dtype, 0-d and empty tensors, metadata, files with and without
tessera's checksum (CRC-32C, computed here independently of tessera's implementation), and the
layout Python's safetensors writes. Only Python's standard library is needed. Regenerate with
`python3 tools/fuzz/make_corpus.py`."""
import json
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent / "corpus"
SIZES = {"F32": 4, "F64": 8, "BF16": 2, "F16": 2, "I32": 4, "I64": 8, "BOOL": 1}


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def image(tensors, metadata=None, checksum=True):
    """tensors: list of (name, dtype, shape, raw bytes) in data order."""
    header, data = {}, b""
    meta = dict(metadata or {})
    for name, dtype, shape, raw in tensors:
        n = SIZES[dtype]
        for d in shape:
            n *= d
        assert len(raw) == n, (name, len(raw), n)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += raw
    if checksum:
        meta["tessera.checksum"] = "crc32c:%08x" % crc32c(data)
        meta.setdefault("format", "pt")
    if meta:
        header = {"__metadata__": meta, **header}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    OUT.mkdir(exist_ok=True)
    f32 = struct.pack("<6f", 1.0, -2.5, 0.0, 3.25, 1e-3, -7.0)
    files = {
        "empty_object": image([], checksum=False),
        "empty_checked": image([]),
        "one_f32": image([("w", "F32", [2, 3], f32)]),
        "one_f32_unchecked": image([("w", "F32", [2, 3], f32)], checksum=False),
        "all_dtypes": image([
            ("a.f32", "F32", [3], f32[:12]),
            ("a.f64", "F64", [2], struct.pack("<2d", 0.5, -1e300)),
            ("a.bf16", "BF16", [2, 2], struct.pack("<4H", 0x3F80, 0xC000, 0x0000, 0x7F80)),
            ("a.f16", "F16", [3], struct.pack("<3H", 0x3C00, 0xBC00, 0x7C00)),
            ("a.i32", "I32", [2], struct.pack("<2i", -5, 2**31 - 1)),
            ("a.i64", "I64", [], struct.pack("<q", 123456789012)),
            ("a.bool", "BOOL", [4], bytes([1, 0, 0, 1])),
        ], metadata={"step": "7"}),
        "zero_dim_and_empty": image([
            ("step", "I64", [], struct.pack("<q", 17)),
            ("lr", "F64", [], struct.pack("<d", 3e-4)),
            ("none", "F32", [0, 4], b""),
            ("x", "F16", [1, 1, 1], struct.pack("<H", 0x3555)),
        ], checksum=False),
        # Python's layout: no checksum, tensors ordered by alignment then name, metadata first.
        "python_layout": image([
            ("b.i64", "I64", [2], struct.pack("<2q", -1, 1)),
            ("a.f32", "F32", [1], struct.pack("<f", 2.0)),
            ("c.bool", "BOOL", [3], bytes([0, 1, 1])),
        ], metadata={"format": "pt"}, checksum=False),
    }
    for name, data in files.items():
        (OUT / (name + ".safetensors")).write_bytes(data)


if __name__ == "__main__":
    assert crc32c(b"123456789") == 0xE3069283
    main()
