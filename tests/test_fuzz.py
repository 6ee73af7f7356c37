"""Fuzzing the Modbus TCP and Sungrow encrypted ports over real sockets (issue 10).

Each example opens a connection, sends what hypothesis generated (arbitrary bytes, or frames
with arbitrary fields: plain MBAP, ``01 00 L P`` encrypted headers, real encrypted frames with
arbitrary PDUs, corrupted ones), split at arbitrary points, then half-closes. The server must
answer or close that one connection, never die: every reply is a well-formed frame of the
port's framing, the connection ends within a deadline (a stream the server can still split
waits for more bytes; the half-close ends it), and a client connected before the example still
gets the right answer after it. A problem other than the client's own bad input (a
``handler-error``: the server broke) fails the test.

Bounded for CI (300 examples per port, ~30 s for both); ``MOCK_SUNGROW_FUZZ_SCALE=N``
runs N times as many (tests/fuzzing.py, docs/testing.md).
"""

from __future__ import annotations

import itertools
import socket
import struct
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_sungrow import MockSungrowServer
from tests.fuzzing import fuzz_settings
from tests.helpers import EncryptedModbus, RawModbus

#: Examples per port (times ``MOCK_SUNGROW_FUZZ_SCALE``, tests/fuzzing.py): ~30 s for both.
EXAMPLES = 300
PROFILE = fuzz_settings(EXAMPLES)

#: What a fuzzed connection may leave in the problems: the client's bad input.
CLIENT_FAULTS = {"bad-frame", "plain-request", "bad-request"}
#: Seconds a half-closed connection may take to be answered and closed (generous).
CLOSE_S = 10.0
#: Input 5000 (wire 4999): the device type code (models.csv; spec registers.csv).
CHECK = struct.pack(">BHH", 4, 4999, 1)

function_codes = st.one_of(st.sampled_from([1, 2, 3, 4, 5, 6, 15, 16, 17, 43, 0x80, 0x84]),
                           st.integers(0, 255))
pdus = st.one_of(
    st.binary(max_size=260),
    st.builds(lambda fc, addr, n: struct.pack(">BHH", fc, addr, n), function_codes,
              st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    st.builds(lambda addr, words: struct.pack(f">BHHB{len(words)}H", 16, addr, len(words),
                                              2 * len(words), *words),
              st.integers(0, 0xFFFF), st.lists(st.integers(0, 0xFFFF), max_size=130)),
    st.builds(lambda fc, rest: bytes([fc]) + rest, function_codes, st.binary(max_size=20)),
)
units = st.one_of(st.sampled_from([1, 200, 247, 0, 255]), st.integers(0, 255))


@st.composite
def mbap_frames(draw: st.DrawFn) -> bytes:
    pdu = draw(pdus)
    length = draw(st.one_of(st.just(len(pdu) + 1), st.integers(0, 0xFFFF)))
    protocol = draw(st.one_of(st.just(0), st.integers(0, 0xFFFF)))
    return struct.pack(">HHHB", draw(st.integers(0, 0xFFFF)), protocol, length,
                       draw(units)) + pdu


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


def _send_and_half_close(address: tuple[str, int], chunks: list[bytes]) -> bytes:
    """Send ``chunks``, half-close, read until the server closes (fails after CLOSE_S)."""
    with socket.create_connection(address, timeout=CLOSE_S) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server closed it already (bad input): allowed; read what came
            pass
        data = b""
        deadline = time.monotonic() + CLOSE_S
        while True:
            assert time.monotonic() < deadline, f"connection still open; got {data.hex(' ')}"
            try:
                chunk = sock.recv(65536)
            except OSError:  # reset (or never connected, after the server closed it)
                return data
            if not chunk:
                return data
            data += chunk


def _check_mbap_replies(data: bytes) -> None:
    """Every reply is a whole MBAP frame (protocol 0, length 2..254), FC echoed or +0x80."""
    at = 0
    while at < len(data):
        assert len(data) - at >= 7, data[at:].hex(" ")
        _tid, pid, length, _unit = struct.unpack_from(">HHHB", data, at)
        assert pid == 0 and 2 <= length <= 254, data[at:at + 8].hex(" ")
        assert len(data) - at >= 6 + length, data[at:].hex(" ")
        at += 6 + length


def _check_problems(server: MockSungrowServer) -> None:
    broken = [p for p in server.problems if p.kind not in CLIENT_FAULTS]
    assert not broken, broken[:3]


@pytest.mark.fuzz
@pytest.mark.slow
@pytest.mark.mock_sungrow_expect_errors
def test_fuzzed_modbus_tcp_never_breaks_the_server(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="modbus", model="SH10RT")
    info = server.get_connection_info("modbus")
    address = (info["host"], info["port"])
    bystander = RawModbus(*address, timeout=CLOSE_S)
    try:
        @PROFILE
        @given(frames=st.lists(st.one_of(mbap_frames(), st.binary(min_size=1, max_size=64)),
                               min_size=1, max_size=8),
               cuts=st.lists(st.integers(0, 4096), max_size=6))
        def example(frames: list[bytes], cuts: list[int]) -> None:
            data = b"".join(frames)
            _check_mbap_replies(_send_and_half_close(address, _chunks(data, cuts)))
            assert bystander.request(1, CHECK) == b"\x04\x02\x0e\x03"  # SH10RT (models.csv)

        example()
    finally:
        bystander.close()
    _check_problems(server)


@pytest.mark.fuzz
@pytest.mark.slow
@pytest.mark.mock_sungrow_expect_errors
def test_fuzzed_encrypted_framing_never_breaks_the_server(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption="aes")
    info = server.get_connection_info("sungrow")
    address = (info["host"], info["port"])
    bystander = EncryptedModbus(*address, timeout=CLOSE_S)
    bystander.fetch_key()
    builder = bystander  # builds frames with the key it fetched (its framing, from the spec)

    @st.composite
    def encrypted(draw: st.DrawFn) -> bytes:
        kind = draw(st.sampled_from(["valid", "corrupt", "header", "plain"]))
        if kind == "plain":
            return draw(mbap_frames())
        if kind == "header":  # an encrypted header with arbitrary L, P and body
            return bytes((1, 0, draw(st.integers(0, 255)), draw(st.integers(0, 255)))) \
                + draw(st.binary(max_size=300))
        pdu = draw(pdus.filter(lambda p: 1 <= len(p) <= 240))
        adu = builder.frame(draw(units), pdu)
        pad = 16 - len(adu) % 16 + draw(st.sampled_from([0, 0, 16]))  # whole blocks; P may lie
        frame = builder.encrypt(adu, pad=pad, fill=draw(st.sampled_from([b"\xff", b"\x00"])))
        if kind == "corrupt":
            at = draw(st.integers(0, len(frame) - 1))
            frame = frame[:at] + bytes([frame[at] ^ draw(st.integers(1, 255))]) + frame[at + 1:]
        return frame

    try:
        @PROFILE
        @given(frames=st.lists(encrypted(), min_size=1, max_size=6),
               cuts=st.lists(st.integers(0, 4096), max_size=6))
        def example(frames: list[bytes], cuts: list[int]) -> None:
            data = b"".join(frames)
            reply = _send_and_half_close(address, _chunks(data, cuts))
            while reply:  # encrypted replies (01 00 L P) or plain MBAP ones, whole frames
                if reply[:2] == b"\x01\x00":
                    assert len(reply) >= 4, reply.hex(" ")
                    end = 4 + reply[2] + reply[3]
                    assert (reply[2] + reply[3]) % 16 == 0 and len(reply) >= end, reply.hex(" ")
                else:
                    assert len(reply) >= 7, reply.hex(" ")
                    end = 6 + struct.unpack_from(">H", reply, 4)[0]
                    _check_mbap_replies(reply[:end])
                reply = reply[end:]
            assert bystander.erequest(1, CHECK) == b"\x04\x02\x01\x26"  # SG5K-D (models.csv)

        example()
    finally:
        bystander.close()
    _check_problems(server)
