"""Replication between brokers in ZooKeeper mode: the leader's ISR and high watermark, the followers' fetchers."""
