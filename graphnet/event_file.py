"""TensorBoard event files written without TensorFlow (nor any other package).

An event file is a sequence of TFRecord records, each::

    uint64 length (little-endian) | uint32 masked CRC32C of length | data | uint32 masked CRC32C of data

where ``data`` is a serialized ``tensorflow.Event`` protocol buffer and the mask is
``((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2^32). The first event holds
``file_version = "brain.Event:2"``; the others a ``Summary`` of tagged values. The few
messages TensorBoard's scalar, histogram and graph plugins read are encoded here by
hand from their field numbers (tensorflow/core/util/event.proto,
framework/summary.proto, framework/tensor.proto).
"""
import itertools
import os
import socket
import struct
import time

import numpy as np

_CASTAGNOLI = 0x82F63B78   # CRC-32C's polynomial, bit-reversed


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CASTAGNOLI if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of ``data`` (bytes)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data):
    """One TFRecord holding ``data``."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + \
        struct.pack("<I", masked_crc32c(data))


# ---- protocol-buffer encoding (wire types: 0 varint, 1 fixed64, 2 bytes, 5 fixed32) ----

def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1   # negative int64s as two's complement, as protobuf does
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field, wire_type):
    return _varint(field << 3 | wire_type)


def _bytes_field(field, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _key(field, 2) + _varint(len(data)) + data


def _double_field(field, value):
    return _key(field, 1) + struct.pack("<d", value)


def _float_field(field, value):
    return _key(field, 5) + struct.pack("<f", value)


def _varint_field(field, value):
    return _key(field, 0) + _varint(int(value))


def _packed_doubles(field, values):
    return _bytes_field(field, struct.pack(f"<{len(values)}d", *values))


def scalar_value(tag, value):
    """A ``Summary.Value`` with ``simple_value`` (the scalars plugin)."""
    return _bytes_field(1, tag) + _float_field(2, float(value))


def histogram_value(tag, values, buckets=30):
    """A ``Summary.Value`` with a ``HistogramProto`` of ``values`` in ``buckets`` equal
    bins (``bucket_limit``: their right edges)."""
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError(f"histogram {tag!r}: no values")
    low, high = float(values.min()), float(values.max())
    counts, edges = np.histogram(values, bins=buckets if high > low else 1,
                                 range=(low, high) if high > low else (low - 0.5, low + 0.5))
    histo = (_double_field(1, low) + _double_field(2, high) +
             _double_field(3, float(values.size)) + _double_field(4, float(values.sum())) +
             _double_field(5, float(np.square(values).sum())) +
             _packed_doubles(6, [float(e) for e in edges[1:]]) +
             _packed_doubles(7, [float(c) for c in counts]))
    return _bytes_field(1, tag) + _bytes_field(5, histo)


def text_tensor_value(tag, text, plugin_name, content=b""):
    """A ``Summary.Value`` holding a scalar string tensor for the plugin ``plugin_name``
    (its ``SummaryMetadata.plugin_data``: name and ``content``)."""
    plugin_data = _bytes_field(1, plugin_name) + _bytes_field(2, content)
    metadata = _bytes_field(1, plugin_data)
    tensor = _varint_field(1, 7) + _bytes_field(2, b"") + _bytes_field(8, text)  # DT_STRING
    return _bytes_field(1, tag) + _bytes_field(8, tensor) + _bytes_field(9, metadata)


def event(step, values=None, file_version=None, wall_time=None):
    """A serialized ``Event``: a ``Summary`` of ``values`` (encoded Summary.Values) at
    ``step``, or the file-version header."""
    data = _double_field(1, time.time() if wall_time is None else wall_time) + \
        _varint_field(2, step)
    if file_version is not None:
        return data + _bytes_field(3, file_version)
    return data + _bytes_field(5, b"".join(_bytes_field(1, v) for v in values))


_file_numbers = itertools.count()


class EventFileWriter:
    """Appends events to a new ``events.out.tfevents.*`` file in ``log_dir`` (created,
    with the file, on the first write)."""

    def __init__(self, log_dir):
        self.log_dir = str(log_dir)
        self.path = None
        self._file = None

    def _open(self):
        os.makedirs(self.log_dir, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_file_numbers)}.v2")
        self.path = os.path.join(self.log_dir, name)
        self._file = open(self.path, "wb")
        self._file.write(record(event(0, file_version="brain.Event:2")))

    def write(self, step, values):
        """One event of the encoded Summary.Values ``values`` at ``step``."""
        if self._file is None:
            self._open()
        self._file.write(record(event(step, values)))

    def flush(self):
        if self._file is not None:
            self._file.flush()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
