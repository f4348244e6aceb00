"""A second, declarative implementation of the wire formats, written in ``construct``.

Used only by tests (``wire/tests/test_oracle_parity.py``) and benchmarks (``bench/``):
it is slow and lax, so it never sits on a socket path. It is written from the
protocol descriptions (``../shared/kafka-protocol/*.json``, the record-batch layout
in Kafka's ``DefaultRecordBatch``/``DefaultRecord``, ``../shared/zookeeper-protocol/
zookeeper.jute``), NOT derived from ``wire``'s generated code or its ``FIELDS`` facts,
so agreement between the two is evidence that both read the spec the same way.

Modules:

* ``kafka_types``: Kafka primitives (fixed-width ints, classic and compact strings,
  bytes and arrays, nullable forms, unsigned and zigzag varints, uuids) and
  ``KStruct``, a struct that in flexible versions ends with a tagged-field section
  whose known tags are parsed into named fields and whose unknown tags are kept.
* ``kafka_messages``: request/response headers and a representative set of messages,
  one construct per (message, version): ``kafka_messages.message(name, version)``.
* ``records``: the RecordBatch v2 header (61 bytes) and a v2 record.
* ``zk``: ZooKeeper's jute records.
* ``strategies``: hypothesis strategies that draw plain values for any of the above
  by walking the construct declaration.
* ``adapters``: small explicit mappings between parsed construct values and ``wire``'s
  dataclasses.

Caveat: construct is lax. Its compiled mode accepted a truncated string; even
non-compiled it will happily parse some inputs Kafka rejects. Use it (non-compiled)
to parse bytes that ought to be valid, and never as evidence that input is invalid.
"""
