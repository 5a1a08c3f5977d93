"""Helpers the tests share: builders of devices, events and frames, Kafka and process
plumbing. Test modules import these, never each other or a conftest."""
