"""WiNet-S tokens, sessions and lockouts as a client (and a test's Python code) sees them.

winet-protocol.md §5: tokens come from ``connect`` (or ``/user/connect``), outlive their
WebSocket, end with 106; login firmware keeps one logged-in session and pushes notice 100 to
the older one; repeated bad passwords lock an account (114). Lifetimes are on the server's
clock, so a :class:`ManualClock` moves them exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_sungrow import ManualClock, MockSungrowServer
from tests.winet_client import Winet, run

Factory = Callable[..., MockSungrowServer]


async def _token(server: MockSungrowServer, *, login: str | None = None) -> str:
    async with Winet(server) as w:
        s = await w.session()
        if login is not None:
            await s.login(login, {"admin": "pw8888", "user": "pw1111"}[login])
        return s.token


def token(server: MockSungrowServer, *, login: str | None = None) -> str:
    """A token from a WebSocket that is closed again (tokens outlive it, §5)."""
    return run(_token(server, login=login))


def state_code(server: MockSungrowServer, tok: str) -> int:
    async def go() -> int:
        async with Winet(server) as w:
            s = await w.session(connect=False)
            return int((await s.call("state", token=tok))["result_code"])

    return run(go())


def test_a_token_ends_exactly_when_its_lifetime_has_passed(mock_sungrow_factory: Factory) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(clock=clock, winet_token_lifetime=120)
    tok = token(server)
    clock.advance(119.5)
    assert state_code(server, tok) == 1
    clock.advance(0.5)  # issued 120 s ago: expired
    assert state_code(server, tok) == 106


def test_expired_tokens_leave_the_list_of_live_ones(mock_sungrow_factory: Factory) -> None:
    clock = ManualClock()
    server = mock_sungrow_factory(clock=clock, winet_token_lifetime=60)
    old = token(server)
    clock.advance(30)
    young = token(server)
    assert {t.value for t in server.winet_sessions.tokens()} == {old, young}
    clock.advance(30)
    assert [t.value for t in server.winet_sessions.tokens()] == [young]
    assert server.winet_sessions.lookup(old) is None
    live = server.winet_sessions.lookup(young)
    assert live is not None and live.user is None and not live.authenticated


def test_expiring_one_token_or_all_counts_them(mock_sungrow_shared: MockSungrowServer) -> None:
    server = mock_sungrow_shared
    first, second, third = token(server), token(server), token(server)
    assert server.expire_winet_tokens(first) == 1
    assert server.expire_winet_tokens(first) == 0  # already gone
    assert state_code(server, first) == 106 and state_code(server, second) == 1
    assert server.expire_winet_tokens() == 2
    assert state_code(server, third) == 106


def test_legacy_firmware_can_be_told_to_keep_one_session(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_single_session=True)
    first = token(server, login="admin")
    second = token(server, login="user")
    assert state_code(server, first) == 106 and state_code(server, second) == 1


def test_login_firmware_can_be_told_to_keep_several(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_profile="login", winet_single_session=False)
    first = token(server, login="admin")
    second = token(server, login="user")
    assert state_code(server, first) == state_code(server, second) == 1


def test_a_login_evicts_logged_in_sessions_only(mock_sungrow_factory: Factory) -> None:
    """A bare connect token survives another login: /device/list still takes it (§4.5)."""
    server = mock_sungrow_factory(winet_profile="login")
    bare = token(server)
    token(server, login="admin")

    async def go() -> dict[str, Any]:
        async with Winet(server) as w:
            return await w.post("/device/list", {"token": bare, "type": "0"})

    assert run(go())["result_code"] == 1
    assert state_code(server, bare) == 401  # still not logged in


def test_an_upgraded_https_token_is_not_logged_in(mock_sungrow_factory: Factory) -> None:
    """sungrow-http-config's ``/upgrade/upgradeStatus`` (§4.5) opens only the RTU passthrough
    it goes on to use; the token's services still need a login (issue 10's login bypass)."""
    server = mock_sungrow_factory(winet_profile="login")

    async def go() -> tuple[int, int]:
        async with Winet(server) as w:
            connect = await w.post("/user/connect", {"lang": "_en_US", "service": "connect",
                                                     "token": ""})
            tok = connect["result_data"]["token"]
            before = await w.get("/time/get", token=tok)
            await w.post("/upgrade/upgradeStatus", {"lang": "_en_US", "token": tok})
            after = await w.get("/time/get", token=tok)
            return before["result_code"], after["result_code"]

    assert run(go()) == (401, 401)


def _login_codes(server: MockSungrowServer, *attempts: tuple[str, str]) -> list[int]:
    async def go() -> list[int]:
        async with Winet(server) as w:
            s = await w.session()
            return [int((await s.login(u, p))["result_code"]) for u, p in attempts]

    return run(go())


def test_unlock_lifts_one_accounts_lock_or_every_one(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_profile="login", winet_lockout_after=1)
    assert _login_codes(server, ("admin", "x"), ("user", "x")) == [114, 114]
    server.winet_sessions.unlock("admin")
    assert _login_codes(server, ("admin", "pw8888"), ("user", "pw1111")) == [1, 114]
    server.winet_sessions.unlock()
    assert _login_codes(server, ("user", "pw1111")) == [1]


def test_a_locked_account_is_answered_with_the_captured_lockout(mock_sungrow_factory: Factory
                                                                 ) -> None:
    """winet-protocol.md's only captured failure: ``114 I18N_COMMON_USR_ACCOUNT_LOCK``, for the
    attempt that locks the account and for every try while it is locked, the right password
    too; the reply still echoes the service."""
    server = mock_sungrow_factory(winet_profile="login", winet_lockout_after=1)

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            return [await s.login("admin", "x"), await s.login("admin", "pw8888")]

    locking, locked = run(go())
    for reply in (locking, locked):
        assert (reply["result_code"], reply["result_msg"]) == (
            114, "I18N_COMMON_USR_ACCOUNT_LOCK"), reply
        assert reply["result_data"]["service"] == "login"


def test_the_accounts_are_the_ones_given_at_start(mock_sungrow_factory: Factory) -> None:
    """The server keeps its own copy of ``winet_accounts``: changing the caller's dict later
    changes no password."""
    accounts = {"admin": "first"}
    server = mock_sungrow_factory(winet_profile="login", winet_accounts=accounts)
    accounts["admin"] = "second"
    assert _login_codes(server, ("admin", "first")) == [1]
    assert _login_codes(server, ("admin", "second")) == [115]  # a wrong password


def test_unlock_also_forgets_the_failures_counted_so_far(mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_profile="login", winet_lockout_after=2)
    assert _login_codes(server, ("admin", "x"), ("user", "x")) == [115, 115]
    server.winet_sessions.unlock("admin")
    # admin starts from zero again; user's one failure still counts.
    assert _login_codes(server, ("admin", "x"), ("user", "x")) == [115, 114]
    server.winet_sessions.unlock()
    assert _login_codes(server, ("admin", "x")) == [115]


def test_a_token_of_the_wrong_type_is_an_invalid_token(
    mock_sungrow_shared: MockSungrowServer,
) -> None:
    """A list, an object or a number as ``token`` is no token: 106, the session carries on."""
    server = mock_sungrow_shared

    async def go() -> list[dict[str, Any]]:
        async with Winet(server) as w:
            s = await w.session()
            replies = [await s.call("state", token=bad)  # type: ignore[arg-type]
                       for bad in (["x"], {"a": 1}, 5, 0, "")]
            return [*replies, await s.call("state")]

    *bad, good = run(go())
    assert bad == [{"result_code": 106, "result_msg": "token invalid or expired",
                    "result_data": {"service": "state"}}] * 5
    assert good["result_code"] == 1
    assert server.problems == []


def test_logout_ends_a_token_and_an_unknown_one_is_no_error(
        mock_sungrow_factory: Factory) -> None:
    """§5 ``logout``: the token answers 106 afterwards, to ``logout`` as well (a service like
    any other: an unknown token is 106 before the service runs). The Python API says whether
    the token existed."""
    server = mock_sungrow_factory()

    async def go() -> tuple[int, int, int]:
        async with Winet(server) as w:
            s = await w.session()
            first = int((await s.call("logout"))["result_code"])
            again = int((await s.call("logout"))["result_code"])
            never = int((await s.call("logout", token="not-a-token"))["result_code"])
            return first, again, never

    assert run(go()) == (1, 106, 106)
    tok = token(server)
    assert server.winet_sessions.logout(tok) is True
    assert server.winet_sessions.logout(tok) is False
    assert state_code(server, tok) == 106


def test_unlocking_an_account_that_never_failed_is_no_error(
        mock_sungrow_factory: Factory) -> None:
    server = mock_sungrow_factory(winet_profile="login", winet_lockout_after=2)
    server.winet_sessions.unlock("admin")  # nothing counted, nothing locked
    server.winet_sessions.unlock("nobody")
    assert _login_codes(server, ("admin", "x"), ("admin", "pw8888")) == [115, 1]


def test_a_closed_websocket_forgets_only_its_own_tokens(mock_sungrow_factory: Factory) -> None:
    """The notice of an evicting login reaches the older session's WebSocket even after some
    other WebSocket closed, and a session whose WebSocket closed can still be evicted (its
    token answers 106 then) without the login failing."""
    server = mock_sungrow_factory(winet_profile="login")

    async def go() -> tuple[dict[str, Any], int, int, int]:
        async with Winet(server) as w:
            gone = await w.session()
            await gone.login("user", "pw1111")
            gone_token = gone.token
            await gone.ws.close()  # its token stays; no notice can reach it any more
            first = await w.session()
            login = int((await first.login())["result_code"])  # evicts the closed one's
            bystander = await w.session()
            await bystander.ws.close()
            second = await w.session()
            await second.login("user", "pw1111")
            notice = await first.receive()  # pushed to the older login's socket
            return notice, login, state_code_of(gone_token), int(
                (await second.call("real", dev_id="1"))["result_code"])

    def state_code_of(tok: str) -> int:
        return server.winet_sessions.check(tok, need_login=False)

    notice, login, gone_code, winner = run(go())
    assert notice == {"result_code": 100, "result_msg": "normal user limit",
                      "result_data": {"service": "notice"}}
    assert (login, gone_code, winner) == (1, 106, 1)


def test_an_upgraded_token_is_not_logged_in_on_the_websocket_either(
        mock_sungrow_factory: Factory) -> None:
    """``/upgrade/upgradeStatus`` opens the RTU passthrough only: the WebSocket services
    answer 401 on login firmware as before."""
    server = mock_sungrow_factory(winet_profile="login")

    async def go() -> tuple[int, int]:
        async with Winet(server) as w:
            s = await w.session()
            before = int((await s.call("real", dev_id="1"))["result_code"])
            await w.post("/upgrade/upgradeStatus", {"lang": "_en_US", "token": s.token})
            return before, int((await s.call("real", dev_id="1"))["result_code"])

    assert run(go()) == (401, 401)


def test_a_login_token_expires_with_the_lifetime(mock_sungrow_factory: Factory) -> None:
    """``winet_token_lifetime`` counts from the login that issued the token (server clock):
    valid before it runs out, 106 after."""
    clock = ManualClock()
    server = mock_sungrow_factory(winet_profile="login", clock=clock, winet_token_lifetime=120)

    async def login() -> str:
        async with Winet(server) as w:
            s = await w.session()
            assert (await s.login())["result_code"] == 1
            return s.token

    async def read(tok: str) -> int:
        async with Winet(server) as w:
            return int((await w.registers(tok, "input", 5000, 1))["result_code"])

    token = run(login())
    clock.advance(119)
    assert run(read(token)) == 1
    clock.advance(2)
    assert run(read(token)) == 106
