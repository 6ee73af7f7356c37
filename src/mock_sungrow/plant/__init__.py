"""The simulated plant, in engineering units only: sun, PV array, inverter, battery, house, meter.

Nothing here knows a register, a word or a protocol; the device layer (:mod:`mock_sungrow.device`)
reads the plant's snapshots and sends it commands. This package imports nothing from
``device``, ``faults`` or ``frontends`` at run time (tests/test_layout.py checks it; the model
catalogue's :class:`~mock_sungrow.device.catalog.InverterModel` is imported for annotations only).

* :mod:`~mock_sungrow.plant.state` -- :class:`~mock_sungrow.plant.state.PlantState`, the one
  mutable state: configuration, commands, snapshots, the lock;
* :mod:`~mock_sungrow.plant.commands` -- what the plant can be told (start, stop, clock,
  limits, power factor, EMS settings), each checked before any is applied;
* :mod:`~mock_sungrow.plant.integrate` -- stepping through time: physics at an instant, ramps,
  events;
* :mod:`~mock_sungrow.plant.measure` -- what the instruments show: building a snapshot;
* :mod:`~mock_sungrow.plant.snapshot` -- :class:`~mock_sungrow.plant.snapshot.PlantSnapshot`
  and :class:`~mock_sungrow.plant.snapshot.Mode`;
* :mod:`~mock_sungrow.plant.counters`, :mod:`~mock_sungrow.plant.history` -- energy counters
  and the history arrays' energies;
* :mod:`~mock_sungrow.plant.weather`, :mod:`~mock_sungrow.plant.meter` -- clouds, house load,
  the grid meter;
* :mod:`~mock_sungrow.plant.physics` -- pure physics (sun, modules, converter losses, cells);
* :mod:`~mock_sungrow.plant.battery`, :mod:`~mock_sungrow.plant.ems` -- a hybrid's battery and
  energy manager.
"""
