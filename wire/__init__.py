"""wiretwin's wire layer: sans-IO codecs for the Kafka and ZooKeeper protocols.

Nothing in this package touches a socket or imports trio; it turns bytes into
typed values and back. See ``wire.kafka`` and ``wire.zk``.
"""
