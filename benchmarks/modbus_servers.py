"""The servers bench_modbus.py measures, as scripts each run in a process of its own.

Each prints one ready line (a port, or mock-sungrow's JSON with the words it serves) and then
serves until it is terminated. All three answer the same read with the same words: the
ceiling and pymodbus are given mock-sungrow's, read through its Python API.
"""

from __future__ import annotations

import textwrap

CEILING_SERVER = textwrap.dedent(
    """
    import asyncio, sys

    TAIL = bytes.fromhex(sys.argv[1])  # everything after the unit id

    class Responder(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""

        def data_received(self, data):
            buf = self.buf + data
            while len(buf) >= 6:
                end = 6 + int.from_bytes(buf[4:6], "big")
                if len(buf) < end:
                    break
                self.t.write(buf[:2] + b"\\x00\\x00\\x00\\x67" + buf[6:7] + TAIL)
                buf = buf[end:]
            self.buf = buf

    async def main():
        server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)

PYMODBUS_SERVER = textwrap.dedent(
    """
    import asyncio, json, logging, sys
    logging.disable(logging.WARNING)  # 3.13+ logs deprecations for the classic datastore
    from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext
    try:
        from pymodbus.datastore import ModbusDeviceContext as Ctx
    except ImportError:
        from pymodbus.datastore import ModbusSlaveContext as Ctx
    from pymodbus.server import ModbusTcpServer

    async def main():
        address, words = int(sys.argv[1]), json.loads(sys.argv[2])
        values = [0] * 10000
        values[address - 1:address - 1 + len(words)] = words  # the block's address 1 = wire 0
        block = ModbusSequentialDataBlock(1, values)
        ctx = ModbusServerContext(Ctx(ir=block, hr=block), single=True)
        server = ModbusTcpServer(ctx, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        print(server.transport.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)

#: mock-sungrow through its Python API; the ready line carries the port and, read through the
#: same API, the words the benchmark then expects on the wire.
MOCK_SERVER = textwrap.dedent(
    """
    import json, sys, threading, time
    from mock_sungrow import MockSungrowServer, SungrowModbusDataBlock

    kind, serial, address, count, slow_us = (
        sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))

    class SlowBlock(SungrowModbusDataBlock):
        # Busy-waits (holding the CPU, like real work) before every read: the benchmark's
        # proof that it measures the server. Not product code.
        def getValues(self, address, count=1):
            end = time.perf_counter() + slow_us / 1e6
            while time.perf_counter() < end:
                pass
            return super().getValues(address, count)

    options = dict(server_type=kind, serial=serial)
    options["modbus_port" if kind == "modbus" else "sungrow_port"] = 0
    if slow_us > 0:
        options["datablock_class"] = SlowBlock
    server = MockSungrowServer(**options).start()
    words = server.read_registers("input", address, count)
    print(json.dumps({"port": server.get_connection_info(kind)["port"], "words": words}),
          flush=True)
    threading.Event().wait()
    """
)
