"""The ``lead_lists`` partitions: one per lead file, keyed by the file's sanitized stem."""

from dagster import DynamicPartitionsDefinition

lead_lists = DynamicPartitionsDefinition(name="lead_lists")
