"""Helpers shared by the tests: a real nats-server, the parity harness, the reference model, a fake clock."""
