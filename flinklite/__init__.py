"""flinklite: a small Flink-style streaming runtime with PyFlink's DataStream API.

Owns the package layout only. The public API lives in `flinklite.datastream` and
`flinklite.common` (PyFlink's names); the job graph in `flinklite.graph`; operator logic in
`flinklite.operators`; keyed state in `flinklite.state`; the single-threaded executor in
`flinklite.runtime`; the testing kit in `flinklite.testing`.
"""

from flinklite.errors import FlinkliteError, InvalidProgramError, JobExecutionError, StateAccessError

__all__ = ["FlinkliteError", "InvalidProgramError", "JobExecutionError", "StateAccessError"]
