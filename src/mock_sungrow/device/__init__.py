"""One device's registers: the catalogue, the map, encodings, reads, writes and data blocks.

This layer turns the plant (engineering units) into register words and back:

* :mod:`~mock_sungrow.device.catalog` -- the shipped data (``models.csv``, ``registers.csv``,
  ``sbr_registers.csv``) as typed, validated records;
* :mod:`~mock_sungrow.device.registermap` -- one model's map: rows, blocks, sentinels, fill;
* :mod:`~mock_sungrow.device.reads` -- register name -> plant quantity;
* :mod:`~mock_sungrow.device.datablock` -- the data blocks every front end reads through;
* :mod:`~mock_sungrow.device.device` -- the devices an installation shows (device-list fields).
"""
