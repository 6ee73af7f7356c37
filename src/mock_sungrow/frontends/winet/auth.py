"""WiNet-S firmware profiles, accounts, tokens and sessions (no HTTP stack imported here).

A token is what a client gets from ``connect`` (WebSocket) or ``/user/connect`` (HTTPS) and
sends with every later request. Real dongles keep tokens valid after the WebSocket that
produced them closes (freman/sungrow closes it straight after ``devicelist``; intelbras opens a
new one per call), so tokens live here, in the server, not in a connection.

Three firmware generations are modelled as profiles (spec §1.1):

``legacy``
    older WiNet-S (``WINET-SV200...``): ``connect`` alone yields a token that works for every
    service and endpoint; ``login`` works too but is never needed.
``login``
    WiNet-S firmware from about May 2024: services other than ``connect``/``login`` answer
    ``401 I18N_COMMON_INTER_ABNORMAL`` until a ``login``; one logged-in session at a time.
``tls-only``
    WiNet-S2 / the 2025 security update: as ``login``, and the plain listeners (80, 8082) are
    closed, so only the TLS port (443) answers.

Every time here comes from the server's clock, so a test on a
:class:`~mock_sungrow.clock.ManualClock` can expire tokens and lift lockouts exactly.

**Only a login logs a token in.** ``/upgrade/upgradeStatus`` (sungrow-http-config's "upgrade
token" step, spec §4.5) marks a token *upgraded*, which lets it use the RTU passthrough that
client then calls, and nothing else: ``real``, ``getParam``, ``setParam`` and the other
services still answer 401 on a login profile until a ``login`` succeeds.

**Bounded by design.** A dongle keeps at most :data:`MAX_TOKENS` tokens: the next ``connect``
or ``login`` evicts the oldest token that never logged in (or the oldest of all, when every
one did), which then answers 106 like an expired one. Failed logins are counted per
*account*, and only for the accounts the dongle has (:attr:`WinetSettings.accounts`): a user
name that is not an account answers 115 and is never counted, so the counters cannot grow
with the names a client invents. A lockout is per account, as the dongle's own message says
(``114 I18N_COMMON_USR_ACCOUNT_LOCK``, spec §5): whoever can reach the dongle can lock
``admin`` out with ``lockout_after`` bad passwords. That is kept on purpose (it is what a
client must survive); ``reset()`` or :meth:`SessionStore.unlock` lifts it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mock_sungrow.device.family import View

#: ``result_code`` values. Captured on real dongles unless marked otherwise (spec §6).
SUCCESS = 1
NOTICE = 100  # pushed "notice": another login took the single session
TOKEN_INVALID = 106  # token unknown, expired or evicted
ACCOUNT_LOCKED = 114  # I18N_COMMON_USR_ACCOUNT_LOCK after repeated bad passwords
WRONG_PASSWORD = 115  # I18N_COMMON_USR_PASSWD_ERROR_TIMES (from a client's fixture; unverified)
NOT_READY = 208  # stalist before a Wi-Fi scan finished
UNKNOWN_SERVICE = 211  # unsupported service (what intelbras' fake dongle answers)
UNSUPPORTED_ON_DEVICE = 215  # a service this device cannot answer (real_battery on an SG)
BAD_REQUEST = 400  # mock-sungrow's own: malformed request (no real capture exists)
READ_FAILED = 301  # I18N_COMMON_READ_FAILED
SET_FAILED = 391  # I18N_COMMON_SET_FAILED
NOT_LOGGED_IN = 401  # I18N_COMMON_INTER_ABNORMAL before login on login-only firmware

#: The most tokens one dongle keeps (about 270 bytes each); see "Bounded by design" above.
MAX_TOKENS = 1024

MSG_SUCCESS = "success"
MSG_INTER_ABNORMAL = "I18N_COMMON_INTER_ABNORMAL"
MSG_ACCOUNT_LOCKED = "I18N_COMMON_USR_ACCOUNT_LOCK"
MSG_WRONG_PASSWORD = "I18N_COMMON_USR_PASSWD_ERROR_TIMES"  # noqa: S105 - a message
MSG_READ_FAILED = "I18N_COMMON_READ_FAILED"
MSG_SET_FAILED = "I18N_COMMON_SET_FAILED"
MSG_NOTICE = "normal user limit"
#: The text of 106 was never captured; this one says what happened.
MSG_TOKEN_INVALID = "token invalid or expired"  # noqa: S105 - a message


def message_for(code: int) -> str:
    """The message a dongle sends with ``code`` (for ``winet-result`` faults)."""
    return {
        NOTICE: MSG_NOTICE,
        TOKEN_INVALID: MSG_TOKEN_INVALID,
        ACCOUNT_LOCKED: MSG_ACCOUNT_LOCKED,
        READ_FAILED: MSG_READ_FAILED,
        NOT_LOGGED_IN: MSG_INTER_ABNORMAL,
        391: MSG_SET_FAILED,
    }.get(code, MSG_INTER_ABNORMAL)

#: Accounts every dongle ships with (winet-extractor's and caliph9k's defaults).
DEFAULT_ACCOUNTS: Mapping[str, str] = MappingProxyType({"admin": "pw8888", "user": "pw1111"})
#: ``uid`` and ``role`` a login reply carries per account (``admin`` as captured by bjeanes).
_ACCOUNT_IDS = {"admin": (3, 0), "user": (2, 1)}


@dataclass(frozen=True)
class Profile:
    """How one firmware generation behaves."""

    name: str
    require_login: bool
    tls_only: bool
    single_session: bool
    #: Extra integer fields the ``connect`` reply carries on this firmware.
    connect_extras: Mapping[str, int]
    #: Whether ``connect`` reports the dongle's IP (WiNet-S2).
    reports_ip: bool
    description: str
    #: The dongle's software and hardware versions (``/about/list``, ``/product/list``,
    #: and input 13265 of the inverter it is plugged into).
    firmware: str
    hardware: str
    #: The family rules of its Modbus port (:mod:`mock_sungrow.device.family`): the legacy
    #: generation's own protocol words and battery fault words (the 2024-01 recording).
    modbus_rules: View


PROFILES: Mapping[str, Profile] = MappingProxyType({
    "legacy": Profile(
        "legacy", require_login=False, tls_only=False, single_session=False,
        connect_extras=MappingProxyType({}), reports_ip=False,
        description="older WiNet-S: connect alone gives a working token",
        firmware="WINET-SV200.001.00.P020", hardware="M_WiNet-S_V01_V01_A",
        modbus_rules="winet-legacy",
    ),
    "login": Profile(
        "login", require_login=True, tls_only=False, single_session=True,
        connect_extras=MappingProxyType(
            {"virgin_flag": 0, "isFirstLogin": 0, "forceModifyPasswd": 0}
        ),
        reports_ip=False,
        description="2024 WiNet-S firmware: services answer 401 until login",
        # recorded: the SH10RT-20's WiNet-S of 2026 reads WINET-SV200.001.00.P040 at input
        # 13265 (../shared/dumps, mkaiser-sh10rt20-bar12-winet-178023-fingerprint.json)
        firmware="WINET-SV200.001.00.P040", hardware="M_WiNet-S_V01_V01_A", modbus_rules="winet",
    ),
    "tls-only": Profile(
        "tls-only", require_login=True, tls_only=True, single_session=True,
        connect_extras=MappingProxyType(
            {"virgin_flag": 0, "isFirstLogin": 0, "forceModifyPasswd": 0}
        ),
        reports_ip=True,
        description="WiNet-S2 / 2025 firmware: login required, only the TLS port answers",
        firmware="WINET-SV300.001.03.P012", hardware="M_WiNet-S2_V01_V01_A",
        modbus_rules="winet",
    ),
})


@dataclass(frozen=True)
class WinetSettings:
    """The dongle's settings at run time (a firmware-profile fault switches ``profile``).

    Built from the validated :class:`mock_sungrow.config.WinetConfig` (where the checks and
    their messages are).

    ``token_lifetime`` (seconds from issue, ``None`` = forever) makes tokens expire with
    ``106``; ``single_session`` (``None`` = the profile's choice) lets one logged-in session
    live at a time; ``lockout_after`` consecutive bad passwords lock an account for
    ``lockout_seconds`` (``114``); ``scan_seconds`` is how long a Wi-Fi scan takes.
    """

    profile: str = "legacy"
    accounts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACCOUNTS))
    token_lifetime: float | None = None
    single_session: bool | None = None
    lockout_after: int = 5
    lockout_seconds: float = 1800.0
    scan_seconds: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "accounts", MappingProxyType(dict(self.accounts)))

    @property
    def profile_info(self) -> Profile:
        """The :class:`Profile` named by :attr:`profile`."""
        return PROFILES[self.profile]

    @property
    def one_session(self) -> bool:
        """Whether a new login evicts every other logged-in session."""
        if self.single_session is None:
            return self.profile_info.single_session
        return self.single_session


@dataclass
class Token:
    """One issued token."""

    value: str
    issued: float
    #: The account that logged in with it, or ``None`` for a bare ``connect`` token.
    user: str | None = None
    #: Raised by ``/upgrade/upgradeStatus``: the RTU passthrough accepts it (not a login).
    upgraded: bool = False
    #: The WebSocket connection it belongs to, if any (where notices go).
    owner: Any = None

    @property
    def authenticated(self) -> bool:
        """Whether this token passed a login (the only way to become logged in)."""
        return self.user is not None


@dataclass(frozen=True)
class LoginOutcome:
    """What ``login`` answered, and which older sessions it evicted."""

    code: int
    message: str
    token: Token | None = None
    evicted: tuple[Token, ...] = ()
    uid: int = 0
    role: int = 0


class SessionStore:
    """Tokens, failed-login counters and lockouts, shared by every listener and connection.

    Thread-safe: handlers run on the server's loop while tests call :meth:`expire` or read
    :meth:`tokens` from their own thread.
    """

    def __init__(self, settings: WinetSettings, now: Callable[[], float]) -> None:
        self.settings = settings
        self._now = now
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    # ------------------------------------------------------------------------------ issuing

    def connect(self, owner: Any = None) -> Token:
        """Issue a fresh UUID4 token (``connect``); it is never logged in."""
        token = Token(str(uuid.uuid4()), self._now(), owner=owner)
        with self._lock:
            self._add(token)
        return token

    def _add(self, token: Token) -> None:
        """Keep ``token``, evicting the oldest non-logged-in one beyond :data:`MAX_TOKENS`."""
        while len(self._tokens) >= MAX_TOKENS:
            oldest = next((t for t in self._tokens.values() if not t.authenticated),
                          next(iter(self._tokens.values())))
            del self._tokens[oldest.value]
        self._tokens[token.value] = token

    def login(self, username: str, password: str, owner: Any = None) -> LoginOutcome:
        """Check an account; on success issue a new logged-in token (the old one stays)."""
        now = self._now()
        with self._lock:
            until = self._locked_until.get(username)
            if until is not None and now < until:
                return LoginOutcome(ACCOUNT_LOCKED, MSG_ACCOUNT_LOCKED)
            if until is not None:  # the lock ran out: start counting afresh
                del self._locked_until[username]
                self._failures.pop(username, None)
            expected = self.settings.accounts.get(username)
            if expected is None:  # not an account: nothing to count or to lock
                return LoginOutcome(WRONG_PASSWORD, MSG_WRONG_PASSWORD)
            if password != expected:
                failures = self._failures.get(username, 0) + 1
                self._failures[username] = failures
                if failures >= self.settings.lockout_after:
                    self._locked_until[username] = now + self.settings.lockout_seconds
                    return LoginOutcome(ACCOUNT_LOCKED, MSG_ACCOUNT_LOCKED)
                return LoginOutcome(WRONG_PASSWORD, MSG_WRONG_PASSWORD)
            self._failures.pop(username, None)
            token = Token(str(uuid.uuid4()), now, user=username, owner=owner)
            evicted: list[Token] = []
            if self.settings.one_session:
                evicted = [t for t in self._tokens.values() if t.authenticated]
                for other in evicted:
                    del self._tokens[other.value]
            self._add(token)
        uid, role = _ACCOUNT_IDS.get(username, (4, 1))
        return LoginOutcome(SUCCESS, MSG_SUCCESS, token, tuple(evicted), uid, role)

    def upgrade(self, value: str) -> Token | None:
        """Mark a token as upgraded (``/upgrade/upgradeStatus``); ``None`` if it is invalid."""
        with self._lock:
            token = self._live(value)
            if token is not None:
                token.upgraded = True
            return token

    # ------------------------------------------------------------------------------ checking

    def lookup(self, value: object) -> Token | None:
        """The live token ``value`` names, or ``None`` (unknown, expired or evicted)."""
        if not isinstance(value, str) or not value:
            return None
        with self._lock:
            return self._live(value)

    def check(self, value: object, *, need_login: bool, upgraded_ok: bool = False) -> int:
        """``SUCCESS``, ``TOKEN_INVALID`` or ``NOT_LOGGED_IN`` for a request bearing ``value``.

        ``need_login`` is the caller's decision for this service; it only matters on a
        profile that requires login. ``upgraded_ok`` lets an upgraded token in as well (the
        RTU passthrough only).
        """
        token = self.lookup(value)
        if token is None:
            return TOKEN_INVALID
        if need_login and self.settings.profile_info.require_login and not (
            token.authenticated or (upgraded_ok and token.upgraded)
        ):
            return NOT_LOGGED_IN
        return SUCCESS

    def _live(self, value: str) -> Token | None:
        token = self._tokens.get(value)
        if token is None:
            return None
        lifetime = self.settings.token_lifetime
        if lifetime is not None and self._now() - token.issued >= lifetime:
            del self._tokens[value]
            return None
        return token

    # ------------------------------------------------------------------------------ ending

    def logout(self, value: str) -> bool:
        """Invalidate one token; whether it existed."""
        with self._lock:
            return self._tokens.pop(value, None) is not None

    def expire(self, token: str | None = None) -> int:
        """Invalidate one token (or all): the next request with it answers ``106``."""
        with self._lock:
            if token is None:
                count = len(self._tokens)
                self._tokens.clear()
                return count
            return 1 if self._tokens.pop(token, None) is not None else 0

    def forget_owner(self, owner: Any) -> None:
        """A WebSocket closed: its tokens stay valid, but no notice can reach it any more."""
        with self._lock:
            for token in self._tokens.values():
                if token.owner is owner:
                    token.owner = None

    def tokens(self) -> list[Token]:
        """The live tokens (expired ones are dropped first)."""
        with self._lock:
            for value in list(self._tokens):
                self._live(value)
            return list(self._tokens.values())

    def unlock(self, username: str | None = None) -> None:
        """Lift lockouts and failure counts (of one account, or all)."""
        with self._lock:
            if username is None:
                self._locked_until.clear()
                self._failures.clear()
            else:
                self._locked_until.pop(username, None)
                self._failures.pop(username, None)
