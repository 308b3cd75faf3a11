"""Integration fixtures: mined sample rules and real servers (shared with tests/service)."""

from tests.service.conftest import ds1_rules, ds2_rules, start_server

__all__ = ["ds1_rules", "ds2_rules", "start_server"]
