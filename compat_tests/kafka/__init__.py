"""Kafka conformance: real clients (kafka-python, confluent-kafka, aiokafka, kcat, kafkajs) against the broker."""
