"""The broker's state: partition logs, topics and the cluster, producers."""
