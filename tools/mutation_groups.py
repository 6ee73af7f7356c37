"""The mutation-tested core: its module groups, their tests and the files the tools share.

``tools/mutation.py`` (the full run and its report) and ``tools/mutation_sample.py`` (the
sample CI runs, ``check``, ``describe``) read them from here; pyproject's ``only_mutate`` names
the same modules (``check_groups``).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mock_sungrow"

#: The core, in the groups the full run goes through (pyproject's ``only_mutate`` is the same
#: set; ``_check_groups`` keeps them equal).
GROUPS: dict[str, tuple[str, ...]] = {
    "registers": ("device.catalog", "device.codec", "device.registermap", "device.bank",
                  "device.datablock", "device.reads", "device.states", "device.writes",
                  "device.family"),
    "winet": ("frontends.winet.api", "frontends.winet.services", "frontends.winet.protocol",
              "frontends.winet.auth", "frontends.winet.payloads", "frontends.winet.devicelist",
              "frontends.winet.status"),
    "faults": ("faults.catalogue", "faults.decision", "faults.effects", "faults.faultset",
               "faults.lifetimes", "faults.params", "faults.spec", "faults.traffic",
               "faults.requestlog", "faults.kinds.base", "faults.kinds.connect",
               "faults.kinds.frame", "faults.kinds.plant", "faults.kinds.request",
               "faults.kinds.session", "faults.kinds.words"),
    "modbus": ("frontends.modbus.app", "frontends.modbus.pdu", "frontends.modbus.codec",
               "frontends.modbus.aes", "frontends.modbus.path", "frontends.modbus.stream",
               "frontends.modbus.tcp", "frontends.modbus.distort", "frontends.modbus.rtu"),
}

#: The test files (``tests/test_NAME.py``) that exercise each module, for the sample, which has
#: no per-function map: the files that test the module's concern, the most pointed first
#: (pytest stops at the first failure). Chosen by reading the tests after issue 9's layout
#: (mutmut's stats phase gives the exact callers: ``full`` uses those).
TESTS: dict[str, tuple[str, ...]] = {
    "device.catalog": ("catalog_rules", "register_map_rules", "registers"),
    "device.codec": ("register_values", "register_map_rules", "registers", "catalog_rules",
                     "out_of_range"),
    "device.registermap": ("register_map_blocks", "block_read_rules", "register_map_rules",
                           "family_rules", "dongle_view", "catalog_rules", "modbus_tcp",
                           "hybrid", "registers"),
    "device.bank": ("register_bank_rules", "block_read_rules", "register_map_rules",
                    "registers", "datablock", "devices", "modbus_tcp", "settings_from"),
    "device.datablock": ("register_map_rules", "block_read_rules", "datablock", "modbus_tcp",
                         "registers"),
    "device.reads": ("register_values", "register_reads_rules", "registers", "hybrid",
                     "plant", "register_map_rules", "ems"),
    "device.states": ("register_values", "hybrid", "winet_payload_rules", "register_reads_rules",
                      "plant"),
    "device.family": ("family_rules", "dongle_view", "block_read_rules", "fidelity"),
    "device.writes": ("register_writes_rules", "register_bank_rules", "registers", "ems",
                      "devices", "out_of_range", "hybrid"),
    "frontends.winet.api": ("winet_http_rules", "winet_api_rules", "winet", "winet_bad_input",
                            "fault_effects", "fault_catalogue"),
    "frontends.winet.services": ("winet_service_rules", "winet", "winet_api_rules",
                                 "winet_bad_input", "devices", "hybrid"),
    "frontends.winet.protocol": ("winet_service_rules", "winet_http_rules", "winet_bad_input",
                                 "winet_api_rules", "winet"),
    "frontends.winet.auth": ("winet_session_rules", "winet_sessions_bounded",
                             "winet_service_rules", "winet_http_rules", "winet_api_rules",
                             "winet", "fault_catalogue"),
    "frontends.winet.payloads": ("winet_payload_rules", "winet_service_rules",
                                 "winet_http_rules", "winet_api_rules",
                                 "winet", "hybrid", "winet_word_faults", "devices",
                                 "fault_effects"),
    "frontends.winet.devicelist": ("winet_service_rules", "winet_http_rules", "winet",
                                   "winet_api_rules", "installation", "devices"),
    "frontends.winet.status": ("winet_service_rules", "winet", "winet_api_rules",
                               "winet_word_faults"),
    "faults.catalogue": ("fault_kind_rules", "fault_param_rules", "fault_catalogue",
                         "fault_registry", "faults_model"),
    "faults.decision": ("request_fault_rules", "frame_fault_rules", "fault_effects",
                        "fault_matching", "fault_catalogue"),
    "faults.effects": ("state_fault_rules", "fault_effects", "fault_registry", "fault_lifetimes",
                       "installation_faults"),
    "faults.faultset": ("fault_set_rules", "fault_lifetimes", "fault_matching", "faults_model",
                        "fault_effects"),
    "faults.lifetimes": ("fault_set_rules", "state_fault_rules", "fault_lifetimes", "faults_model",
                         "fault_effects"),
    "faults.params": ("fault_param_rules", "fault_registry", "control_openapi", "fault_spec_rules",
                      "faults_model", "fault_spec_errors", "fault_catalogue"),
    "faults.spec": ("fault_spec_rules", "fault_matching", "faults_model", "fault_spec_errors",
                    "fault_catalogue", "control_api", "scenario"),
    "faults.traffic": ("traffic_memory_rules", "request_fault_rules", "word_fault_rules",
                       "fault_matching", "winet_api_rules", "fault_effects", "fault_catalogue",
                       "faults_model", "installation_faults", "encrypted", "winet"),
    "faults.requestlog": ("request_log_rules", "fault_matching", "faults_model", "fault_effects",
                          "control_api", "request_log_peers", "modbus_tcp", "fault_catalogue"),
    "faults.kinds.base": ("fault_kind_rules", "fault_param_rules", "fault_registry",
                          "fault_catalogue", "faults_model"),
    "faults.kinds.connect": ("fault_decision_rules", "request_fault_rules", "traffic_memory_rules",
                             "fault_effects", "fault_catalogue", "installation_faults",
                             "connection_lifecycle", "winet_faults"),
    "faults.kinds.frame": ("frame_fault_rules", "fault_catalogue", "fault_effects",
                           "encrypted_faults", "rtu"),
    "faults.kinds.plant": ("state_fault_rules", "fault_effects", "fault_catalogue",
                           "fault_lifetimes"),
    "faults.kinds.request": ("fault_decision_rules", "request_fault_rules", "fault_catalogue",
                             "fault_effects", "installation_faults", "fault_matching",
                             "winet_faults"),
    "faults.kinds.session": ("session_fault_rules", "fault_decision_rules", "fault_effects",
                             "installation_faults", "encrypted_faults", "winet_faults",
                             "fault_catalogue"),
    "faults.kinds.words": ("word_fault_rules", "fault_catalogue", "winet_word_faults", "devices",
                           "fault_effects"),
    "frontends.modbus.app": ("modbus_app_rules", "modbus_tcp", "modbus_edge_paths",
                             "dongle_view", "datablock", "encrypted", "encrypted_key_rules",
                             "fault_catalogue"),
    "frontends.modbus.pdu": ("rtu_crc_rules", "rtu", "mbap_framing_rules", "modbus_tcp",
                             "modbus_edge_paths", "encrypted_framing"),
    "frontends.modbus.codec": ("mbap_framing_rules", "modbus_tcp", "modbus_edge_paths",
                               "frame_fault_rules", "codec_fit", "backpressure",
                               "connection_lifecycle"),
    "frontends.modbus.aes": ("encrypted_framing", "encrypted_key_rules", "encrypted",
                             "encrypted_faults", "fault_effects", "fault_catalogue"),
    "frontends.modbus.path": ("request_path_rules", "modbus_tcp", "backpressure", "fairness",
                              "modbus_edge_paths", "codec_fit", "modbus_log_rules",
                              "fault_effects", "fault_catalogue", "connection_lifecycle",
                              "installation_faults"),
    "frontends.modbus.stream": ("connection_lifecycle", "backpressure", "modbus_tcp",
                                "fault_effects", "installation_faults"),
    "frontends.modbus.tcp": ("modbus_port_rules", "modbus_tcp", "encrypted", "server",
                             "connection_lifecycle", "modbus_edge_paths", "dongle_view",
                             "rtu_framing", "installation_faults"),
    "frontends.modbus.distort": ("modbus_log_rules", "modbus_fault_shape_rules",
                                 "modbus_app_rules", "fault_catalogue", "fault_effects",
                                 "devices", "encrypted_faults", "modbus_tcp",
                                 "installation_faults"),
    "frontends.modbus.rtu": ("rtu_crc_rules", "rtu", "rtu_gateway_rules", "rtu_framing",
                             "connection_lifecycle"),
}

EQUIVALENTS = ROOT / "tools" / "mutation_equivalents.toml"
#: The full run's results, kept across checkouts (tools/mutation_results.py).
RESULTS = ROOT / "tools" / "mutation_results.json"


def module_path(module: str) -> Path:
    """``frontends.winet.api`` -> ``src/mock_sungrow/frontends/winet/api.py``."""
    return Path("src", PACKAGE, *module.split(".")).with_suffix(".py")


def check_groups() -> None:
    """Stop if GROUPS, TESTS and pyproject's ``only_mutate`` no longer name the same modules."""
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    ours = {str(module_path(m)) for group in GROUPS.values() for m in group}
    if set(configured["only_mutate"]) != ours or set(TESTS) != {
        m for group in GROUPS.values() for m in group
    }:
        raise SystemExit("tools/mutation.py GROUPS/TESTS and pyproject's only_mutate differ")
