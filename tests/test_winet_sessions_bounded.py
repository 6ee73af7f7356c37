"""WiNet-S sessions under hostile use: no login bypass, tokens and login counters bounded.

* A token becomes logged in only through a successful ``login``: ``/upgrade/upgradeStatus``
  used to make a bare connect token a logged-in one (``real``, ``getParam``, ``setParam``
  then answered with no password). It still opens the RTU passthrough, the one endpoint
  sungrow-http-config (which never logs in, spec §4.5) uses after it.
* Tokens are capped per dongle (``auth.MAX_TOKENS``); the oldest bare token goes first and
  answers 106 like an expired one, a logged-in one is kept.
* Failed logins are counted per account and only for accounts the dongle has: invented user
  names no longer grow the counters. A lockout is per account (spec §5: 114
  ``I18N_COMMON_USR_ACCOUNT_LOCK``), so bad passwords for ``admin`` lock ``admin`` only.
"""

from __future__ import annotations

from typing import Any

from mock_sungrow import MockSungrowServer
from mock_sungrow.frontends.winet.auth import MAX_TOKENS
from tests.winet_client import Winet, run

#: FC4 read of input 5000, 1 register, unit 1, with its CRC (spec §4.5's sungrow-http-config).
READ_5000 = "0104138700018567"


def test_upgrade_status_does_not_log_a_token_in(mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS", winet_profile="login")

    async def go() -> dict[str, dict[str, Any]]:
        async with Winet(server) as w:
            connect = await w.post("/user/connect", {"lang": "_en_US", "service": "connect",
                                                     "token": ""})
            token = connect["result_data"]["token"]
            out = {"upgrade": await w.get("/upgrade/upgradeStatus", token=token)}
            s = await w.session(connect=False)
            s.token = token
            out["real"] = await s.call("real", dev_id="1")
            out["getParam"] = await w.registers(token, "input", 5000, 1)
            out["setParam"] = await w.post("/device/setParam", {
                "lang": "en_us", "token": token, "dev_id": 1, "param_addr": "5008",
                "param_size": "1", "param_value": "500"})
            out["passthrough"] = await w.post("/device/passthroughway", {
                "dev_id": 1, "lang": "_en_US", "msgType": "0", "token": token,
                "msgValue": READ_5000})
            await s.login()
            out["after_login"] = await s.call("real", dev_id="1")
            return out

    out = run(go())
    assert out["upgrade"]["result_code"] == 1
    for service in ("real", "getParam", "setParam"):
        assert out[service]["result_code"] == 401, (service, out[service])
        assert out[service]["result_msg"] == "I18N_COMMON_INTER_ABNORMAL"
    assert out["passthrough"]["result_code"] == 1  # sungrow-http-config's documented flow
    assert out["passthrough"]["result_data"]["data"].startswith("010402")
    assert out["after_login"]["result_code"] == 1
    assert server.read_registers("holding", 5008, 1) != [500]  # nothing was written


def test_tokens_are_capped_and_the_oldest_bare_token_goes_first(
        mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS", server_type="http")
    extra = 50

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session(connect=False)
            first = (await s.connect())["result_data"]["token"]
            second = (await s.connect())["result_data"]["token"]
            await s.login()
            logged_in = s.token
            for _ in range(MAX_TOKENS + extra):
                await s.call("connect", token="")
            newest = (await s.connect())["result_data"]["token"]
            return {name: await s.call("real", token=token, dev_id="1")
                    for name, token in [("first", first), ("second", second),
                                        ("logged_in", logged_in), ("newest", newest)]}

    out = run(go())
    assert len(server.winet_sessions.tokens()) == MAX_TOKENS
    assert out["first"]["result_code"] == 106 and out["second"]["result_code"] == 106
    assert out["logged_in"]["result_code"] == 1  # logged-in tokens outlive a connect flood
    assert out["newest"]["result_code"] == 1


def test_when_every_token_is_logged_in_the_oldest_goes(mock_sungrow_factory: Any) -> None:
    """The cap holds when no bare token is left to evict: legacy firmware keeps several
    logged-in sessions, and the next login evicts the oldest of them all."""
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS", server_type="http")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            s = await w.session(connect=False)
            tokens = [(await s.login())["result_data"]["token"] for _ in range(MAX_TOKENS)]
            newest = (await s.login())["result_data"]["token"]
            return {name: await s.call("real", token=token, dev_id="1")
                    for name, token in [("oldest", tokens[0]), ("second", tokens[1]),
                                        ("newest", newest)]}

    out = run(go())
    assert len(server.winet_sessions.tokens()) == MAX_TOKENS
    assert all(t.authenticated for t in server.winet_sessions.tokens())
    assert out["oldest"]["result_code"] == 106
    assert out["second"]["result_code"] == out["newest"]["result_code"] == 1


def test_invented_user_names_are_not_counted_and_lockout_is_per_account(
        mock_sungrow_factory: Any) -> None:
    server: MockSungrowServer = mock_sungrow_factory(model="SG5.0RS", server_type="http",
                                                     winet_profile="login",
                                                     winet_lockout_after=3)

    async def go() -> dict[str, list[int]]:
        async with Winet(server) as w:
            s = await w.session()
            out = {"invented": [(await s.login(f"user{i}", "x"))["result_code"]
                                for i in range(200)]}
            out["admin"] = [(await s.login("admin", "bad"))["result_code"] for _ in range(3)]
            out["admin_right"] = [(await s.login("admin", "pw8888"))["result_code"]]
            out["user"] = [(await s.login("user", "pw1111"))["result_code"]]
            return out

    out = run(go())
    assert set(out["invented"]) == {115}  # wrong password, never a lock
    assert out["admin"] == [115, 115, 114] and out["admin_right"] == [114]
    assert out["user"] == [1]  # the other account is not locked
    assert len(server.winet_sessions._failures) <= len(server.winet_settings.accounts)
