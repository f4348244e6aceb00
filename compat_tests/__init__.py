"""compat_tests: real third-party clients against wiretwin's servers (grows with the servers)."""
