"""zkserver: a ZooKeeper 3.9-compatible server on trio: a pure core (``zkserver.core``, the data tree in
``zkserver.tree``) inside a thin socket shell (``zkserver.server``); README says what it serves and what is not supported yet."""
