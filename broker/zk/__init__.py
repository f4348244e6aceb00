"""ZooKeeper mode: Kafka's pre-KRaft metadata layout, the controller, and the kazoo bridge (see model.py)."""
