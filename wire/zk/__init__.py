"""ZooKeeper wire codecs: jute records (generated), protocol constants and request/reply framing."""
