"""Owns pyflink.datastream.connectors: the connector contract and DeliveryGuarantee."""

from flinklite.datastream.connectors.base import DeliveryGuarantee, Sink, Source

__all__ = ["DeliveryGuarantee", "Sink", "Source"]
