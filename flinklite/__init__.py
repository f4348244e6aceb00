"""flinklite: a small Flink-style streaming runtime (not built yet; see README "Not supported yet")."""
