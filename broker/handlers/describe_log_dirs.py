"""DescribeLogDirs (35): the one log dir of this broker and the partitions it hosts.

The log dir is the --data-dir path, or ``/wiretwin/memory`` for the in-memory logs. Each hosted
partition (this broker is in its replicas) reports its size (the bytes of its stored batches),
offset lag 0 and is_future_key false. ``topics`` null means every topic; named topics or partitions
this broker does not host are left out, as Kafka leaves them out. v4 carries total/usable bytes:
the file system's for a data dir, -1 (unknown) in memory. v3+ has a top-level error code (0).
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.messages.describe_log_dirs import DescribeLogDirsRequest, DescribeLogDirsResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

MEMORY_LOG_DIR = "/wiretwin/memory"
DResp = DescribeLogDirsResponse


@handles(35)
def describe_log_dirs(core: BrokerCore, ctx: RequestContext, req: DescribeLogDirsRequest,
                      version: int) -> DescribeLogDirsResponse:
    root = core.config.data_dir
    result = DResp.DescribeLogDirsResult(error_code=0, log_dir=str(root) if root is not None else MEMORY_LOG_DIR)
    if root is not None:
        try:
            usage = shutil.disk_usage(root)
            result.total_bytes, result.usable_bytes = usage.total, usage.free
        except OSError:
            pass
    if req.topics is None:
        wanted: list[tuple[str, list[int] | None]] = [(name, None) for name in core.cluster.topics]
    else:
        wanted = [(t.topic, list(t.partitions)) for t in req.topics]
    for name, indexes in wanted:
        topic = core.cluster.topics.get(name)
        if topic is None:
            continue
        chosen = topic.partitions if indexes is None else [
            topic.partitions[i] for i in dict.fromkeys(indexes) if 0 <= i < len(topic.partitions)]
        parts = [DResp.DescribeLogDirsPartition(partition_index=p.index, partition_size=p.log.size_bytes,
                                                offset_lag=0, is_future_key=False)
                 for p in chosen if ctx.node_id in p.replicas]
        if parts:
            result.topics.append(DResp.DescribeLogDirsTopic(name=name, partitions=parts))
    return DResp(error_code=0, results=[result])
