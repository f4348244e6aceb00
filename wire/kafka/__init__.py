"""Kafka wire codecs: generated messages, headers, record batches, compression, error codes."""
