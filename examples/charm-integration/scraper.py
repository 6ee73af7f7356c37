"""A stand-in for a charm's workload: poll an inverter once and print a JSON report.

It is what a SunGather- or exporter-like workload does on every scan: read the block of input
registers 5000-5037 (wire address 4999), retry a failed read, and say what it saw. Real
workloads are bigger; the integration test around it is the point (test_scraper.py).

    python3 scraper.py HOST PORT [--timeout S] [--retries N]
"""

from __future__ import annotations

import argparse
import json

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException


def scrape(host: str, port: int, timeout: float, retries: int) -> dict[str, object]:
    """One scan: the report a charm would turn into its status and metrics."""
    client = ModbusTcpClient(host, port=port, timeout=timeout, retries=0)
    if not client.connect():
        return {"status": "unreachable", "attempts": 0}
    report: dict[str, object] = {"status": "no answer", "attempts": 0}
    try:
        for attempt in range(1, retries + 2):
            report["attempts"] = attempt
            try:
                reply = client.read_input_registers(4999, count=38)  # documented 5000-5037
            except ModbusException:
                report["status"] = "no answer"  # a timeout or a dropped connection
                continue
            if reply.isError():
                report["status"] = f"exception {reply.exception_code}"
                continue
            words = reply.registers
            report.update(
                status="ok",
                device_type_code=words[0],                     # 5000
                daily_yield_kwh=words[3] / 10,                 # 5003, 0.1 kWh
                active_power_w=words[31] | words[32] << 16,    # 5031-5032, U32 low word first
            )
            break
    finally:
        client.close()
    return report


def main() -> None:
    """Parse the arguments, scan once, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--retries", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(scrape(args.host, args.port, args.timeout, args.retries)))


if __name__ == "__main__":
    main()
