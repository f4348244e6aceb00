"""broker: a Kafka-compatible broker on trio: a pure core (``broker.core``, one handler module per API key in
``broker.handlers``) in a thin socket shell (``broker.server``), with ZooKeeper mode in ``broker.zk``; README
says what it serves and what is not supported yet."""
