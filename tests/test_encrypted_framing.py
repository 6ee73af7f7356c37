"""The encrypted port's framing rules (spec §A.4, §A.8), edge by edge, over raw sockets.

Frames are built here from the spec (header ``01 00 L P``, P in 1..16, L + P a whole number
of AES blocks, a plain MBAP header has protocol id ``00 00``) with the independent client in
``tests.helpers``; what the server must say about a bad frame is written out literally.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from mock_sungrow import ManualClock, MockSungrowServer
from tests.helpers import GET_KEY, EncryptedModbus, RawModbus

NOON = datetime(2026, 1, 10, 2, 0, tzinfo=timezone.utc)
READ_4999 = struct.pack(">BHH", 4, 4999, 1)  # documented 5000: device type code


@pytest.fixture
def server(mock_sungrow_factory: Any) -> MockSungrowServer:
    s: MockSungrowServer = mock_sungrow_factory(server_type="sungrow", clock=ManualClock(NOON))
    return s


def _port(server: MockSungrowServer) -> int:
    port = server.get_connection_info("sungrow")["port"]
    assert isinstance(port, int)
    return port


@pytest.fixture
def enc(server: MockSungrowServer) -> Iterator[EncryptedModbus]:
    with EncryptedModbus("127.0.0.1", _port(server)) as client:
        client.fetch_key()
        yield client


def _peer(raw: RawModbus) -> str:
    host, port = raw.sock.getsockname()[:2]
    return f"{host}:{port}"


def _closed(raw: RawModbus) -> bool:
    try:
        return raw.sock.recv(100) == b""
    except ConnectionResetError:
        return True


def _rejects(server: MockSungrowServer, data: bytes, key: bytes | None = None) -> str:
    """Send ``data`` on a fresh connection; the connection must close with one bad-frame."""
    with EncryptedModbus("127.0.0.1", _port(server), public_key=key) as bad:
        bad.send(data)
        assert _closed(bad)
        peer = _peer(bad)
    (problem,) = server.problems
    assert (problem.front_end, problem.peer, problem.kind) == ("sungrow", peer, "bad-frame")
    return problem.message


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("01 00 07 09", "encrypted frame header 01 00 07 09: length 7 is shorter than any "
                        "Modbus TCP request (8)"),
        ("01 00 00 10", "encrypted frame header 01 00 00 10: length 0 is shorter than any "
                        "Modbus TCP request (8)"),
        ("01 00 0c 00", "encrypted frame header 01 00 0c 00: padding 0 outside 1..16"),
        ("01 00 0f 11", "encrypted frame header 01 00 0f 11: padding 17 outside 1..16"),
        ("01 00 0c 05", "encrypted frame header 01 00 0c 05: 12 + 5 bytes is not a whole "
                        "number of AES blocks (the padding for 12 is 4)"),
        ("01 00 14 05", "encrypted frame header 01 00 14 05: 20 + 5 bytes is not a whole "
                        "number of AES blocks (the padding for 20 is 12)"),
        # with bytes after the header, the message still shows the header's four
        ("01 00 07 09 ff ff", "encrypted frame header 01 00 07 09: length 7 is shorter than "
                              "any Modbus TCP request (8)"),
        ("01 00 0c 00 ff", "encrypted frame header 01 00 0c 00: padding 0 outside 1..16"),
        ("01 00 0c 05 ff", "encrypted frame header 01 00 0c 05: 12 + 5 bytes is not a whole "
                           "number of AES blocks (the padding for 12 is 4)"),
    ],
)
def test_a_bad_encrypted_header_is_named_and_closes_the_connection(
    server: MockSungrowServer, header: str, message: str
) -> None:
    # the 4 header bytes alone are judged without waiting for more
    assert _rejects(server, bytes.fromhex(header)) == message


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(
    "head", ["02 00 0c 04 00 00 00 00 00", "01 05 0c 04 00 00 00 00 00",
             "00 01 00 01 00 06 01 04 13"])
def test_a_header_that_is_neither_plain_nor_encrypted(server: MockSungrowServer,
                                                      head: str) -> None:
    data = bytes.fromhex(head) + bytes(16)
    first8 = " ".join(head.split()[:8])
    assert _rejects(server, data) == (
        f"neither a Modbus TCP nor an encrypted frame header: {first8}")


@pytest.mark.mock_sungrow_expect_errors
@pytest.mark.parametrize(("encryption", "head"),
                         [("none", "02 00 0c 04 00 00 00 00"),
                          ("none", "01 00 0c 04 00 00 00 00")])
def test_a_port_that_does_not_encrypt_says_so(mock_sungrow_factory: Any, encryption: str,
                                              head: str) -> None:
    server = mock_sungrow_factory(server_type="sungrow", encryption=encryption)
    got = _rejects(server, bytes.fromhex(head) + bytes(16))
    if head.startswith("01 00"):
        assert got == ("encrypted frame header 01 00 0c 04 on a port that does not encrypt "
                       "(encryption='none')")
    else:
        assert got == f"neither a Modbus TCP nor an encrypted frame header: {head}"


def test_the_smallest_padding_and_length_are_accepted(enc: EncryptedModbus) -> None:
    # FC16 of one register: an ADU of 15 bytes, padded by P = 1 (spec: 1 <= P <= 16)
    pdu = struct.pack(">BHHBH", 16, 5007, 1, 2, 500)   # documented 5008: 50.0 %
    frame = enc.eframe(1, pdu)
    assert frame[:4] == bytes.fromhex("01 00 0f 01")
    enc.send(frame)
    assert enc.recv_encrypted() == (1, pdu[:5])
    assert enc.eread(3, 5007, 1) == [500]
    # L = 8: an MBAP header and a function code only; answered, not refused as "too short"
    frame = enc.encrypt(enc.frame(1, b"\x04"))
    assert frame[:4] == bytes.fromhex("01 00 08 08")
    enc.send(frame)
    unit, reply = enc.recv_encrypted()
    assert unit == 1 and reply[0] == 0x84
    assert enc.eread(4, 4999, 1) == [0x0126]


@pytest.mark.mock_sungrow_expect_errors
def test_a_strict_port_reports_ignored_plain_requests_once(server: MockSungrowServer) -> None:
    with RawModbus("127.0.0.1", _port(server), timeout=0.5) as raw:
        raw.send(raw.frame(1, READ_4999) + raw.frame(1, READ_4999))
        raw.send(GET_KEY)  # the key request is still answered, in plain
        assert raw.recv_exact(25)[:9] == bytes.fromhex("68 68 00 00 00 13 f7 04 10")
        peer = _peer(raw)
    (problem,) = server.problems
    assert (problem.front_end, problem.peer, problem.kind) == ("sungrow", peer,
                                                                "plain-request")
    assert problem.message == ("plain Modbus request ignored on an encrypting port "
                               "(04 13 87 00 01); plain_requests='lenient' answers it")


def test_a_lenient_port_answers_plain_requests_with_their_transaction_id(
    mock_sungrow_factory: Any,
) -> None:
    server = mock_sungrow_factory(server_type="sungrow", plain_requests="lenient")
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(raw.frame(1, READ_4999, tid=0x1234))
        assert raw.recv_frame() == (0x1234, 1, bytes.fromhex("04 02 01 26"))
    assert server.problems == []


def test_unit_247_is_only_special_for_the_key_address(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(server_type="sungrow", plain_requests="lenient")
    with RawModbus("127.0.0.1", _port(server)) as raw:
        # unit 247, but not input 2791: an ordinary request to a unit nobody answers for,
        # so exception 0x0B (gateway target failed to respond), and no bad-frame record
        raw.send(raw.frame(247, READ_4999))
        assert raw.recv_frame()[1:] == (247, bytes.fromhex("84 0b"))
    assert [p.kind for p in server.problems] == []


@pytest.mark.mock_sungrow_expect_errors
def test_a_malformed_key_request_is_recorded_with_its_peer(server: MockSungrowServer) -> None:
    with RawModbus("127.0.0.1", _port(server)) as raw:
        raw.send(bytes.fromhex("68 68 00 00 00 06 f7 04 0a e7 00 07"))
        assert raw.recv_exact(9) == bytes.fromhex("68 68 00 00 00 03 f7 84 02")
        peer = _peer(raw)
    (problem,) = server.problems
    assert (problem.front_end, problem.peer, problem.kind) == ("sungrow", peer, "bad-frame")
    assert problem.message == ("key request (unit 247, input 2791) with PDU 04 0a e7 00 07 "
                               "instead of 04 0a e7 00 08: answered with exception 2")


def test_each_rotation_hands_out_a_new_key(server: MockSungrowServer) -> None:
    keys = [server.sungrow_public_key()]
    for _ in range(3):
        server.rotate_sungrow_key()
        keys.append(server.sungrow_public_key())
    assert len(set(keys)) == 4
    with EncryptedModbus("127.0.0.1", _port(server)) as c:
        assert c.fetch_key() == keys[-1]
        assert c.eread(4, 4999, 1) == [0x0126]


def test_connection_info_names_the_encryption(mock_sungrow_factory: Any) -> None:
    for encryption in ("aes", "none", "lan"):
        server = mock_sungrow_factory(server_type="sungrow", encryption=encryption)
        info = server.get_connection_info("sungrow")
        assert (info["connection_type"], info["encryption"]) == ("sungrow", encryption)
