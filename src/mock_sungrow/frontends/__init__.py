"""The protocol front ends: each turns bytes on a socket into calls on the devices behind it.

* :mod:`~mock_sungrow.frontends.base` -- what every front end shares (binding, shutdown);
* :mod:`~mock_sungrow.frontends.modbus` -- plain Modbus TCP and Sungrow's encrypted port;
* :mod:`~mock_sungrow.frontends.winet` -- the WiNet-S dongle's HTTP + WebSocket API;
* :mod:`~mock_sungrow.frontends.control` -- the control API.
"""
