"""Installations: which inverters and batteries exist and on which endpoints they answer.

Empty for now. It will hold ``InstallationSpec`` (from keyword arguments, a dict or a TOML/YAML
file, validated with messages naming the device and the key), ``Installation`` (builds the
plants and devices, maps each endpoint to ``{unit: Device}``) and the file loading shared with
:mod:`mock_sungrow.scenario` (see docs/design.md, "Layers").
"""
