"""The WiNet-S dongle: its local HTTP + WebSocket API, firmware profiles, accounts and tokens.

Only the aiohttp glue imports aiohttp: :mod:`~mock_sungrow.frontends.winet.app` (the front end:
routes, middlewares, WebSocket sessions), :mod:`~mock_sungrow.frontends.winet.listeners`
(sockets, admission) and :mod:`~mock_sungrow.frontends.winet.messages` (parameters, JSON
replies). The settings and session store (:mod:`~mock_sungrow.frontends.winet.auth`) and the
protocol semantics (:mod:`~mock_sungrow.frontends.winet.protocol`,
:mod:`~mock_sungrow.frontends.winet.services`, :mod:`~mock_sungrow.frontends.winet.api`,
:mod:`~mock_sungrow.frontends.winet.payloads`, :mod:`~mock_sungrow.frontends.winet.devicelist`,
:mod:`~mock_sungrow.frontends.winet.status`, :mod:`~mock_sungrow.frontends.winet.i18n`) are plain
Python, so a server can validate its WiNet configuration, and a Modbus-only server can run,
without loading an HTTP stack.
"""
