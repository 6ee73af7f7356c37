"""The simulated plant, in engineering units only: sun, PV array, inverter, battery, house, meter.

Nothing here knows a register, a word or a protocol; the device layer (:mod:`mock_sungrow.device`)
reads the plant's snapshots and sends it commands. This package imports nothing from
``device``, ``faults`` or ``frontends`` at run time (a test checks it; the model catalogue's
:class:`~mock_sungrow.device.catalog.InverterModel` is imported for type annotations only).

* :mod:`~mock_sungrow.plant.state` -- :class:`PlantState`, the one mutable state;
* :mod:`~mock_sungrow.plant.physics` -- pure physics (sun, modules, converter losses, cells);
* :mod:`~mock_sungrow.plant.battery` and :mod:`~mock_sungrow.plant.ems` -- a hybrid's battery
  and energy manager.
"""
