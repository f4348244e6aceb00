"""broker: a Kafka-compatible broker (not built yet; see README "Not supported yet")."""
