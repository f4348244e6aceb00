"""zkserver: a ZooKeeper 3.9-compatible server (not built yet; see README "Not supported yet")."""
