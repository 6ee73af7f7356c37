"""The pure pieces behind a hybrid: dispatch invariants, the battery pack, clouds, schedules."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from mock_sungrow.device.catalog import load_catalog
from mock_sungrow.device.writes import ems_settings
from mock_sungrow.plant.battery import BatteryPack, default_battery_kwh
from mock_sungrow.plant.ems import EmsSettings, Regime, dispatch
from mock_sungrow.plant.physics import conversion_loss_w, dc_for_ac
from mock_sungrow.plant.weather import CloudWalk

RATED = 10_000.0


def settings() -> EmsSettings:
    return ems_settings({})


def test_dispatch_always_balances_and_respects_every_limit() -> None:
    """10 000 random instants: the balance closes, no limit is ever exceeded."""
    rng = random.Random(7)
    regimes = list(Regime)
    for _ in range(10_000):
        command = rng.choice([0xAA, 0xBB, 0xCC])
        s = ems_settings({13051: command, 13052: rng.randrange(0, 10_001)})
        pv_available = rng.choice([0.0, rng.uniform(0, 15_000)])
        load = rng.uniform(0, 12_000)
        ch_max, dis_max = rng.uniform(0, 6_000), rng.uniform(0, 6_000)
        ac_limit = rng.choice([RATED, rng.uniform(0, RATED)])
        export_cap = rng.choice([None, rng.uniform(0, RATED)])
        has_meter = rng.random() < 0.8
        offset = rng.choice([0.0, rng.uniform(-8_000, 8_000)])
        f = dispatch(
            regime=rng.choice(regimes), settings=s, pv_available_w=pv_available, load_w=load,
            charge_max_w=ch_max, discharge_max_w=dis_max, offset_w=offset,
            ac_limit_w=ac_limit, export_cap_w=export_cap, has_meter=has_meter, rated_w=RATED,
        )
        energy_in = f.pv_w + max(-f.battery_w, 0) + max(f.grid_w, 0)
        energy_out = f.load_w + max(f.battery_w, 0) + max(-f.grid_w, 0) + f.loss_w
        assert energy_in == pytest.approx(energy_out, abs=1e-6)
        assert 0 <= f.pv_w <= pv_available + 1e-9
        assert f.loss_w >= 0
        assert -dis_max - 1e-9 <= f.battery_w <= ch_max + 1e-9
        assert f.ac_w <= max(0.0, ac_limit) + 0.05
        assert f.ac_w >= -RATED - 0.05  # charging from the grid stays within the rating
        if export_cap is not None and has_meter:
            assert -f.grid_w <= export_cap + 0.05
        assert 0 <= f.direct_w <= min(f.load_w, max(f.ac_w, 0)) + 1e-9
        assert 0 <= f.export_pv_w <= max(-f.grid_w, 0) + 1e-9
        assert 0 <= f.charge_pv_w <= max(f.battery_w, 0) + 1e-9
        if f.regime is Regime.OFF:
            assert f.battery_w == 0


def test_self_consumption_holds_the_grid_at_zero_when_it_can() -> None:
    s = settings()
    f = dispatch(regime=Regime.SELF_CONSUMPTION, settings=s, pv_available_w=6000, load_w=1000,
                 charge_max_w=9000, discharge_max_w=9000, offset_w=0, ac_limit_w=RATED,
                 export_cap_w=None, has_meter=True, rated_w=RATED)
    assert abs(f.grid_w) < 0.05 and f.battery_w > 4800 and f.charge_pv_w == f.battery_w
    f = dispatch(regime=Regime.SELF_CONSUMPTION, settings=s, pv_available_w=0, load_w=1000,
                 charge_max_w=9000, discharge_max_w=9000, offset_w=0, ac_limit_w=RATED,
                 export_cap_w=None, has_meter=True, rated_w=RATED)
    assert abs(f.grid_w) < 0.05 and f.battery_w < -1000  # discharge covers load and losses
    f = dispatch(regime=Regime.SELF_CONSUMPTION, settings=s, pv_available_w=0, load_w=1000,
                 charge_max_w=9000, discharge_max_w=300, offset_w=0, ac_limit_w=RATED,
                 export_cap_w=None, has_meter=True, rated_w=RATED)
    assert f.battery_w == -300 and f.grid_w > 700  # the grid takes the rest


def test_conversion_losses_and_their_inverse() -> None:
    assert conversion_loss_w(0.0, RATED) == 0.0
    for dc in (1.0, 100.0, 500.0, 5_000.0, 10_000.0, -3_000.0):
        assert 0 < conversion_loss_w(dc, RATED) < 0.1 * abs(dc) + 1
    assert 1 - conversion_loss_w(5_000, RATED) / 5_000 > 0.97  # ~98 % at half load
    for ac in (-10_000.0, -2_000.0, 0.0, 37.0, 3_000.0, 10_000.0):
        dc = dc_for_ac(ac, RATED)
        assert dc - conversion_loss_w(dc, RATED) == pytest.approx(ac, abs=0.01)


def test_battery_pack_sizes_and_electrics() -> None:
    sh10 = load_catalog().model("SH10RT")
    assert default_battery_kwh(sh10) == 9.6
    assert default_battery_kwh(load_catalog().model("SG10RT")) == 0.0
    for kwh, name, code in ((6.4, "SBR064", 0x20E6), (9.6, "SBR096", 0x20E7),
                            (22.4, "SBR224", 0x20EB), (25.6, "SBR256", 0x20EC)):
        pack = BatteryPack.for_inverter(sh10, kwh, seed=1)
        assert (pack.model, pack.device_type_code, pack.modules) == (name, code, code - 0x20E4)
    pack = BatteryPack.for_inverter(sh10, 9.6, seed=1)
    assert pack.nominal_voltage_v == pytest.approx(192.0)
    for soc in (5.0, 50.0, 95.0):
        for power in (-5_000.0, 0.0, 3_000.0):
            volts, amps = pack.terminal(soc, power)
            assert volts * amps == pytest.approx(power)
            assert 150 < volts < 225
    # Charging raises the terminal voltage above rest, discharging lowers it.
    assert pack.terminal(50, 3000)[0] > pack.open_circuit_v(50) > pack.terminal(50, -3000)[0]
    assert pack.bms_current_limits(50, 20) == (30.0, 30.0)
    charge, discharge = pack.bms_current_limits(99, 20)
    assert charge < 10 and discharge == 30
    assert pack.bms_current_limits(50, 0)[0] < 30  # no fast charging in the cold
    lv = BatteryPack.for_inverter(load_catalog().model("SH5K-20"), 6.4, seed=1)
    assert lv.kind == "lv" and lv.nominal_voltage_v == pytest.approx(51.2)
    with pytest.raises(ValueError, match="positive"):
        BatteryPack.for_inverter(sh10, 0, seed=1)


def test_cloud_walk_is_deterministic_bounded_and_mean_reverting() -> None:
    walk = CloudWalk(seed=3)
    again = CloudWalk(seed=3)
    t0 = datetime(2026, 1, 10).timestamp()
    values = [walk.factor(t0 + 60 * i) for i in range(6_000)]
    assert values[::-1] == [again.factor(t0 + 60 * i) for i in reversed(range(6_000))]
    assert all(0.05 <= v <= 1.1 for v in values)
    assert sum(values) / len(values) == pytest.approx(0.7, abs=0.05)
    assert max(values) - min(values) > 0.4  # it does move
    assert values != [CloudWalk(seed=4).factor(t0 + 60 * i) for i in range(6_000)]
    with pytest.raises(ValueError, match="mean"):
        CloudWalk(mean=2.0)


def test_forced_charge_windows_and_weekdays() -> None:
    s = settings()
    assert s.charge_window(datetime(2026, 1, 10, 2, 0)) is None  # disabled
    h = {33208: 0xAA, 33209: 0, 33210: 23, 33211: 30, 33212: 1, 33213: 0, 33214: 80,
         33215: 13, 33216: 0, 33217: 14, 33218: 0, 33219: 60}
    s = ems_settings(h)

    def target(when: datetime) -> float | None:
        window = s.charge_window(when)
        return None if window is None else window.target_soc_pct

    assert target(datetime(2026, 1, 10, 23, 45)) == 80  # the window wraps midnight
    assert target(datetime(2026, 1, 11, 0, 59)) == 80
    assert target(datetime(2026, 1, 11, 1, 0)) is None
    assert target(datetime(2026, 1, 11, 13, 30)) == 60
    assert s.schedule_boundaries_min() == (60, 780, 840, 1410)
    weekdays = ems_settings({**h, 33209: 0b0011111})  # Mon-Fri
    assert weekdays.charge_window(datetime(2026, 1, 9, 13, 30)) is not None  # a Friday
    assert weekdays.charge_window(datetime(2026, 1, 10, 13, 30)) is None  # a Saturday


def test_a_write_into_the_middle_of_a_32_bit_value_is_refused() -> None:
    """No catalogued holding register is 32-bit today; the rule still holds for one that is."""
    from mock_sungrow.device.catalog import RegisterDef, _compile_patterns
    from mock_sungrow.device.registermap import RegisterMap
    from mock_sungrow.device.writes import validate_write
    from mock_sungrow.errors import ModbusError

    model = load_catalog().model("SH10RT")
    wide = RegisterDef(address=13080, table="holding", name="external_ems_heartbeat",
                       kind="U32", count=1, words=2, unit="s", scale=1.0, models=("SH*",),
                       source="test", _pattern=_compile_patterns(("SH*",)))
    regmap = RegisterMap(model, rows=[wide], projectors={}, address_projectors={})
    now = datetime(2026, 1, 10)
    for address, words in ((13081, [1]), (13080, [1]), (13079, [0, 1])):
        with pytest.raises(ModbusError) as err:
            validate_write(regmap, address, words, now)
        assert err.value.code == 2
