"""The generator of ``wire.kafka.messages`` from Kafka's JSON schemas (``python -m wire.kafka.codegen``)."""
