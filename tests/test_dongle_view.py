"""The WiNet-S dongle's own Modbus view (the "sungrow" port) against the inverter's LAN port.

Expectations are literal words of the recordings through a WiNet-S (../shared/dumps, wire
address = documented number - 1): the SH10RT-20 fingerprint (dongle firmware P040) refused
input 2612-2659, 5045-5076, 5141-5158, 5664-5695, 6099-6198, 10740-10799, 33000-33199 (wire)
and answered 0 where the LAN port sends 0xFFFF; the SH8.0RT-20's dongle refused input 5070
(the LAN port answers it) and failed the first read of holding 33046+2 and 33499+2 with
exception 4, answering the retry. Both ports are read over real sockets, plain Modbus TCP on
the dongle's port (``encryption="none"``) and AES through ``EncryptedModbus``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mock_sungrow import ManualClock
from tests.helpers import AsyncBlock, EncryptedModbus, RawModbus

NOON = datetime(2026, 1, 10, 12, 0, tzinfo=ZoneInfo("Australia/Sydney"))
#: Input bands (wire start, count) the SH10RT-20's dongle refused one address at a time.
DONGLE_REFUSES = [(2612, 48), (5045, 32), (5141, 18), (5664, 32), (6099, 100), (10740, 60),
                  (33000, 200)]


def _both(factory: Any, model: str, **kwargs: Any) -> tuple[Any, RawModbus, RawModbus]:
    server = factory(model=model, server_type="modbus+sungrow", encryption="none",
                     clock=ManualClock(NOON), **kwargs)
    lan = RawModbus("127.0.0.1", server.get_connection_info("modbus")["port"])
    dongle = RawModbus("127.0.0.1", server.get_connection_info("sungrow")["port"])
    return server, lan, dongle


@pytest.mark.parametrize("model", ["SH10RT-20", "SH8.0RT-20", "SH10RT"])
def test_the_dongle_refuses_its_own_bands(mock_sungrow_factory: Any, model: str) -> None:
    server, lan, dongle = _both(mock_sungrow_factory, model)
    with lan, dongle:
        for start, count in DONGLE_REFUSES:
            for wire in (start, start + count // 2, start + count - 1):
                assert dongle.read(4, wire, 1) == 2, (model, wire)
        assert dongle.read(4, 5070, 1) == 2          # the SH8.0RT-20's dongle refused 5070
        lan_5071 = lan.read(4, 5070, 1)                # ... which its LAN port answers
        assert isinstance(lan_5071, list) and 100 < lan_5071[0] < 5000  # kOhm
        assert lan.read(4, 5045, 1) == [0xFFFF]        # the LAN port answers the band
        assert dongle.read(4, 5044, 1) == [0]          # just before the refused band
    assert server.problems == []


def test_the_dongle_answers_zero_for_the_lan_ports_sentinels(mock_sungrow_factory: Any) -> None:
    """The 2026 dongle (WINET-SV200.001.00.P040, the ``login`` profile) of the SH10RT-20."""
    _server, lan, dongle = _both(mock_sungrow_factory, "SH10RT-20", winet_profile="login")
    with lan, dongle:
        # MPPT 3 (input 5015-5016) and 4984-4989: 0xFFFF on the LAN port, 0 through the dongle
        assert lan.read(4, 5014, 2) == [0xFFFF, 0xFFFF]
        assert dongle.read(4, 5014, 2) == [0, 0]
        assert lan.read(4, 4983, 6) == [0xFFFF] * 6
        assert dongle.read(4, 4983, 6) == [0] * 6
        # meter channel 2 (input 13200-13207) and 13208-13249
        assert dongle.read(4, 13199, 50) == [0] * 50
        # identity passes through unchanged (input 4950-4953 on every LAN port), and so do the
        # battery fault words (input 13066-13069)
        assert dongle.read(4, 4949, 4) == lan.read(4, 4949, 4) == [0x3000, 0x4142, 0x1100,
                                                                   0x0100]
        assert dongle.read(4, 13065, 4) == lan.read(4, 13065, 4) == [0, 0, 0, 0]
        # holding keeps the LAN port's words (holding 5009-5035 read 0xFFFF both ways)
        assert dongle.read(3, 5008, 27) == lan.read(3, 5008, 27) == [0xFFFF] * 27


@pytest.mark.parametrize("model", ["SH8.0RT-20", "SH10RT"])
def test_a_legacy_dongle_sends_its_own_protocol_words(mock_sungrow_factory: Any,
                                                      model: str) -> None:
    """The SH8.0RT-20's WiNet-S on 2024-01-24 (before the May 2024 login firmware: the
    ``legacy`` profile): input 4950-4953 = 0x3130 0x4141 0x0500 0x0100 and the battery fault
    words 13066-13069 = 0xFFFF, where its LAN port sent 0x3000 0x4142 0x1100 0x0100 and 0
    (alexanderlanin-sh8rt20-master-winet-wire.json beside its direct wire trace)."""
    _server, lan, dongle = _both(mock_sungrow_factory, model, winet_profile="legacy")
    with lan, dongle:
        assert dongle.read(4, 4949, 4) == [0x3130, 0x4141, 0x0500, 0x0100]
        assert lan.read(4, 4949, 4) == [0x3000, 0x4142, 0x1100, 0x0100]
        assert dongle.read(4, 13065, 4) == [0xFFFF] * 4
        assert lan.read(4, 13065, 4) == [0] * 4
        assert dongle.read(4, 5014, 2) == [0, 0]     # and the dongle's other rules still hold
        assert dongle.read(4, 5070, 1) == 2


@pytest.mark.parametrize("blocks", ["stock", "async"])
def test_first_read_of_33047_and_33500_fails_once_per_connection(
    mock_sungrow_factory: Any, blocks: str,
) -> None:
    """Also with data blocks that override an ``async_`` method (the slower async path)."""
    extra = {"datablock_class": AsyncBlock} if blocks == "async" else {}
    server, lan, dongle = _both(mock_sungrow_factory, "SH8.0RT-20", **extra)
    with lan, dongle:
        for wire, count in ((33046, 2), (33499, 2)):
            assert dongle.read(3, wire, count) == 4   # exception 4 (device failure) first
            again = dongle.read(3, wire, count)       # answered on the retry
            assert isinstance(again, list) and again == lan.read(3, wire, count)
            assert dongle.read(3, wire, count) == again  # and from then on
            assert lan.read(3, wire - 1, 1) != 4       # the LAN port never fails it
        assert dongle.read(3, 33047, 1) != 4           # another start is not the rule's
    port = server.get_connection_info("sungrow")["port"]
    with RawModbus("127.0.0.1", port) as fresh:        # a new connection fails once again
        assert fresh.read(3, 33046, 2) == 4
        assert isinstance(fresh.read(3, 33046, 2), list)


def test_unit_2_is_the_battery_on_the_dongle(mock_sungrow_factory: Any) -> None:
    server, lan, dongle = _both(mock_sungrow_factory, "SH10RT-20", battery_kwh=9.6)
    assert server.battery is not None and server.battery.unit == 200
    with lan, dongle:
        on_lan = lan.read(4, 10709, 1, unit=200)       # SBR device type code (input 10710)
        assert isinstance(on_lan, list) and on_lan[0] & 0xFFF0 == 0x20E0
        assert dongle.read(4, 10709, 1, unit=2) == on_lan
        assert lan.read(4, 10709, 1, unit=2) == 0x0B   # the LAN port has no unit 2
        assert dongle.read(4, 4999, 1, unit=1) == [0x0E13]  # unit 1: the inverter


def test_a_model_no_dongle_rule_reaches_reads_alike(mock_sungrow_factory: Any) -> None:
    """A string inverter has no recording through a dongle: both ports answer the same."""
    _server, lan, dongle = _both(mock_sungrow_factory, "SG10RT")
    with lan, dongle:
        assert dongle.read(4, 4999, 40) == lan.read(4, 4999, 40)
        assert dongle.read(4, 5112, 3) == lan.read(4, 5112, 3)


def test_the_encrypted_dongle_port_has_the_same_view(mock_sungrow_factory: Any) -> None:
    server = mock_sungrow_factory(model="SH10RT-20", server_type="sungrow", encryption="aes",
                                  winet_profile="login", clock=ManualClock(NOON))
    with EncryptedModbus("127.0.0.1", server.get_connection_info("sungrow")["port"]) as c:
        c.fetch_key()
        assert c.eread(4, 5014, 2) == [0, 0]
        assert c.eread(4, 4949, 4) == [0x3000, 0x4142, 0x1100, 0x0100]


def test_unit_2_reads_are_the_batterys_for_faults_and_the_log(mock_sungrow_factory: Any) -> None:
    server, lan, dongle = _both(mock_sungrow_factory, "SH10RT-20", battery_kwh=9.6)
    battery = server.battery
    assert battery is not None
    server.inject("exception", code=4, front_end="sungrow", device=battery.serial, times=1)
    with lan, dongle:
        assert dongle.read(4, 10709, 1, unit=2) == 4      # the fault named the battery
        assert isinstance(dongle.read(4, 10709, 1, unit=2), list)
    logged = [r for r in server.requests.all() if r.front_end == "sungrow" and r.unit == 2]
    assert [r.device for r in logged] == [battery.serial] * 2
    assert logged[0].fault == "exception"


def test_a_replayed_winet_trace_fails_its_first_tries_once(mock_sungrow_factory: Any) -> None:
    """Replay serves the recording's own first tries; the map's retry rule does not add one."""
    from mock_sungrow.dumps.formats import Dump
    from mock_sungrow.dumps.replay import replay_arguments

    dump = Dump("made-up", "winet", 1, 0x0E12, words={("holding", 33047): 0x0424,
                                                     ("holding", 33048): 0x0424},
                first_try={("holding", 33047): 4, ("holding", 33048): 4})
    server = mock_sungrow_factory(server_type="sungrow", encryption="none",
                                  **replay_arguments(dump))
    with RawModbus("127.0.0.1", server.get_connection_info("sungrow")["port"]) as c:
        assert c.read(3, 33046, 2) == 4
        assert c.read(3, 33046, 2) == [0x0424, 0x0424]


def test_the_dongle_remembers_the_last_1024_connections_first_tries(
    mock_sungrow_factory: Any,
) -> None:
    """Each connection fails once; after 1,024 newer ones the oldest is forgotten.

    The memory is bounded (a client that reconnects for every read would otherwise grow it
    without end): a connection whose first try is among the last 1,024 peers' is answered on
    its next read, one pushed out by a 1,025th newer peer fails once again.
    """
    server, lan, dongle = _both(mock_sungrow_factory, "SH8.0RT-20")
    port = server.get_connection_info("sungrow")["port"]

    def newcomer() -> None:
        with RawModbus("127.0.0.1", port) as other:
            assert other.read(3, 33046, 2) == 4

    with lan, dongle:
        assert dongle.read(3, 33046, 2) == 4
        for _ in range(1023):  # with ``dongle``: 1,024 peers, all remembered
            newcomer()
        assert isinstance(dongle.read(3, 33046, 2), list)
        newcomer()  # the 1,025th: the oldest, ``dongle``, is forgotten
        assert dongle.read(3, 33046, 2) == 4
        assert isinstance(dongle.read(3, 33046, 2), list)
