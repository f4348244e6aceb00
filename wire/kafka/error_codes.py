"""Kafka's protocol error codes: code, name, retriable flag and default message.

This module owns the error-code table of the Kafka protocol (Java's ``Errors`` enum), taken
from Apache Kafka 4.0 (branch ``4.0``, commit 4ae681446f18). It is the 3.9 table plus
INVALID_REGULAR_EXPRESSION (128) and REBOOTSTRAP_REQUIRED (129): every code from -1 to 129.
``retriable`` is whether Java's exception class for the code extends ``RetriableException``
(directly or through ``InvalidMetadataException``): what a Java client retries on its own.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

__all__ = ["ErrorCode", "ErrorInfo", "ERRORS", "error_info", "is_retriable"]


class ErrorCode(IntEnum):
    """A Kafka error code, named as in the protocol guide."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    INVALID_FETCH_SIZE = 4
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    STALE_CONTROLLER_EPOCH = 11
    OFFSET_METADATA_TOO_LARGE = 12
    NETWORK_EXCEPTION = 13
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    INVALID_REQUIRED_ACKS = 21
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    INVALID_TIMESTAMP = 32
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    POLICY_VIOLATION = 44
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    TRANSACTION_COORDINATOR_FENCED = 52
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    SECURITY_DISABLED = 54
    OPERATION_NOT_ATTEMPTED = 55
    KAFKA_STORAGE_ERROR = 56
    LOG_DIR_NOT_FOUND = 57
    SASL_AUTHENTICATION_FAILED = 58
    UNKNOWN_PRODUCER_ID = 59
    REASSIGNMENT_IN_PROGRESS = 60
    DELEGATION_TOKEN_AUTH_DISABLED = 61
    DELEGATION_TOKEN_NOT_FOUND = 62
    DELEGATION_TOKEN_OWNER_MISMATCH = 63
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65
    DELEGATION_TOKEN_EXPIRED = 66
    INVALID_PRINCIPAL_TYPE = 67
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FETCH_SESSION_ID_NOT_FOUND = 70
    INVALID_FETCH_SESSION_EPOCH = 71
    LISTENER_NOT_FOUND = 72
    TOPIC_DELETION_DISABLED = 73
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    UNSUPPORTED_COMPRESSION_TYPE = 76
    STALE_BROKER_EPOCH = 77
    OFFSET_NOT_AVAILABLE = 78
    MEMBER_ID_REQUIRED = 79
    PREFERRED_LEADER_NOT_AVAILABLE = 80
    GROUP_MAX_SIZE_REACHED = 81
    FENCED_INSTANCE_ID = 82
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
    ELECTION_NOT_NEEDED = 84
    NO_REASSIGNMENT_IN_PROGRESS = 85
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    UNSTABLE_OFFSET_COMMIT = 88
    THROTTLING_QUOTA_EXCEEDED = 89
    PRODUCER_FENCED = 90
    RESOURCE_NOT_FOUND = 91
    DUPLICATE_RESOURCE = 92
    UNACCEPTABLE_CREDENTIAL = 93
    INCONSISTENT_VOTER_SET = 94
    INVALID_UPDATE_VERSION = 95
    FEATURE_UPDATE_FAILED = 96
    PRINCIPAL_DESERIALIZATION_FAILURE = 97
    SNAPSHOT_NOT_FOUND = 98
    POSITION_OUT_OF_RANGE = 99
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    BROKER_ID_NOT_REGISTERED = 102
    INCONSISTENT_TOPIC_ID = 103
    INCONSISTENT_CLUSTER_ID = 104
    TRANSACTIONAL_ID_NOT_FOUND = 105
    FETCH_SESSION_TOPIC_ID_ERROR = 106
    INELIGIBLE_REPLICA = 107
    NEW_LEADER_ELECTED = 108
    OFFSET_MOVED_TO_TIERED_STORAGE = 109
    FENCED_MEMBER_EPOCH = 110
    UNRELEASED_INSTANCE_ID = 111
    UNSUPPORTED_ASSIGNOR = 112
    STALE_MEMBER_EPOCH = 113
    MISMATCHED_ENDPOINT_TYPE = 114
    UNSUPPORTED_ENDPOINT_TYPE = 115
    UNKNOWN_CONTROLLER_ID = 116
    UNKNOWN_SUBSCRIPTION_ID = 117
    TELEMETRY_TOO_LARGE = 118
    INVALID_REGISTRATION = 119
    TRANSACTION_ABORTABLE = 120
    INVALID_RECORD_STATE = 121
    SHARE_SESSION_NOT_FOUND = 122
    INVALID_SHARE_SESSION_EPOCH = 123
    FENCED_STATE_EPOCH = 124
    INVALID_VOTER_KEY = 125
    DUPLICATE_VOTER = 126
    VOTER_NOT_FOUND = 127
    INVALID_REGULAR_EXPRESSION = 128
    REBOOTSTRAP_REQUIRED = 129

    @property
    def retriable(self) -> bool:
        return ERRORS[self].retriable

    @property
    def message(self) -> str | None:
        """Kafka's default error message (None for NONE)."""
        return ERRORS[self].message

    @property
    def exception(self) -> str | None:
        """The simple name of Java's exception class for this code."""
        return ERRORS[self].exception

    @classmethod
    def for_code(cls, code: int) -> ErrorCode:
        """The member for ``code``; unknown codes map to UNKNOWN_SERVER_ERROR, as Java's ``Errors.forCode``."""
        try:
            return cls(code)
        except ValueError:
            return cls.UNKNOWN_SERVER_ERROR


class ErrorInfo(NamedTuple):
    code: int
    name: str
    retriable: bool
    exception: str | None
    message: str | None
    since: str = "0"  # the first Kafka release that knows the code, when newer than 3.9


def _e(code: int, retriable: bool, exception: str | None, message: str | None, since: str = "0") -> ErrorInfo:
    return ErrorInfo(code, ErrorCode(code).name, retriable, exception, message, since)


# fmt: off
ERRORS: dict[int, ErrorInfo] = {e.code: e for e in (
    _e(-1, False, "UnknownServerException",
       "The server experienced an unexpected error when processing the request."),
    _e(0, False, None,
       None),
    _e(1, False, "OffsetOutOfRangeException",
       "The requested offset is not within the range of offsets maintained by the server."),
    _e(2, True, "CorruptRecordException",
       "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt."),
    _e(3, True, "UnknownTopicOrPartitionException",
       "This server does not host this topic-partition."),
    _e(4, False, "InvalidFetchSizeException",
       "The requested fetch size is invalid."),
    _e(5, True, "LeaderNotAvailableException",
       "There is no leader for this topic-partition as we are in the middle of a leadership election."),
    _e(6, True, "NotLeaderOrFollowerException",
       "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition."),
    _e(7, True, "TimeoutException",
       "The request timed out."),
    _e(8, False, "BrokerNotAvailableException",
       "The broker is not available."),
    _e(9, True, "ReplicaNotAvailableException",
       "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition."),
    _e(10, False, "RecordTooLargeException",
       "The request included a message larger than the max message size the server will accept."),
    _e(11, False, "ControllerMovedException",
       "The controller moved to another broker."),
    _e(12, False, "OffsetMetadataTooLarge",
       "The metadata field of the offset request was too large."),
    _e(13, True, "NetworkException",
       "The server disconnected before a response was received."),
    _e(14, True, "CoordinatorLoadInProgressException",
       "The coordinator is loading and hence can't process requests."),
    _e(15, True, "CoordinatorNotAvailableException",
       "The coordinator is not available."),
    _e(16, True, "NotCoordinatorException",
       "This is not the correct coordinator."),
    _e(17, False, "InvalidTopicException",
       "The request attempted to perform an operation on an invalid topic."),
    _e(18, False, "RecordBatchTooLargeException",
       "The request included message batch larger than the configured segment size on the server."),
    _e(19, True, "NotEnoughReplicasException",
       "Messages are rejected since there are fewer in-sync replicas than required."),
    _e(20, True, "NotEnoughReplicasAfterAppendException",
       "Messages are written to the log, but to fewer in-sync replicas than required."),
    _e(21, False, "InvalidRequiredAcksException",
       "Produce request specified an invalid value for required acks."),
    _e(22, False, "IllegalGenerationException",
       "Specified group generation id is not valid."),
    _e(23, False, "InconsistentGroupProtocolException",
       "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list."),
    _e(24, False, "InvalidGroupIdException",
       "The configured groupId is invalid."),
    _e(25, False, "UnknownMemberIdException",
       "The coordinator is not aware of this member."),
    _e(26, False, "InvalidSessionTimeoutException",
       "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms)."),
    _e(27, False, "RebalanceInProgressException",
       "The group is rebalancing, so a rejoin is needed."),
    _e(28, False, "InvalidCommitOffsetSizeException",
       "The committing offset data size is not valid."),
    _e(29, False, "TopicAuthorizationException",
       "Topic authorization failed."),
    _e(30, False, "GroupAuthorizationException",
       "Group authorization failed."),
    _e(31, False, "ClusterAuthorizationException",
       "Cluster authorization failed."),
    _e(32, False, "InvalidTimestampException",
       "The timestamp of the message is out of acceptable range."),
    _e(33, False, "UnsupportedSaslMechanismException",
       "The broker does not support the requested SASL mechanism."),
    _e(34, False, "IllegalSaslStateException",
       "Request is not valid given the current SASL state."),
    _e(35, False, "UnsupportedVersionException",
       "The version of API is not supported."),
    _e(36, False, "TopicExistsException",
       "Topic with this name already exists."),
    _e(37, False, "InvalidPartitionsException",
       "Number of partitions is below 1."),
    _e(38, False, "InvalidReplicationFactorException",
       "Replication factor is below 1 or larger than the number of available brokers."),
    _e(39, False, "InvalidReplicaAssignmentException",
       "Replica assignment is invalid."),
    _e(40, False, "InvalidConfigurationException",
       "Configuration is invalid."),
    _e(41, True, "NotControllerException",
       "This is not the correct controller for this cluster."),
    _e(42, False, "InvalidRequestException",
       "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details."),
    _e(43, False, "UnsupportedForMessageFormatException",
       "The message format version on the broker does not support the request."),
    _e(44, False, "PolicyViolationException",
       "Request parameters do not satisfy the configured policy."),
    _e(45, False, "OutOfOrderSequenceException",
       "The broker received an out of order sequence number."),
    _e(46, False, "DuplicateSequenceException",
       "The broker received a duplicate sequence number."),
    _e(47, False, "InvalidProducerEpochException",
       "Producer attempted to produce with an old epoch."),
    _e(48, False, "InvalidTxnStateException",
       "The producer attempted a transactional operation in an invalid state."),
    _e(49, False, "InvalidPidMappingException",
       "The producer attempted to use a producer id which is not currently assigned to its transactional id."),
    _e(50, False, "InvalidTxnTimeoutException",
       "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms)."),
    _e(51, True, "ConcurrentTransactionsException",
       "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing."),
    _e(52, False, "TransactionCoordinatorFencedException",
       "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer."),
    _e(53, False, "TransactionalIdAuthorizationException",
       "Transactional Id authorization failed."),
    _e(54, False, "SecurityDisabledException",
       "Security features are disabled."),
    _e(55, False, "OperationNotAttemptedException",
       "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest."),
    _e(56, True, "KafkaStorageException",
       "Disk error when trying to access log file on the disk."),
    _e(57, False, "LogDirNotFoundException",
       "The user-specified log directory is not found in the broker config."),
    _e(58, False, "SaslAuthenticationException",
       "SASL Authentication failed."),
    _e(59, False, "UnknownProducerIdException",
       "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception."),
    _e(60, False, "ReassignmentInProgressException",
       "A partition reassignment is in progress."),
    _e(61, False, "DelegationTokenDisabledException",
       "Delegation Token feature is not enabled."),
    _e(62, False, "DelegationTokenNotFoundException",
       "Delegation Token is not found on server."),
    _e(63, False, "DelegationTokenOwnerMismatchException",
       "Specified Principal is not valid Owner/Renewer."),
    _e(64, False, "UnsupportedByAuthenticationException",
       "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels."),
    _e(65, False, "DelegationTokenAuthorizationException",
       "Delegation Token authorization failed."),
    _e(66, False, "DelegationTokenExpiredException",
       "Delegation Token is expired."),
    _e(67, False, "InvalidPrincipalTypeException",
       "Supplied principalType is not supported."),
    _e(68, False, "GroupNotEmptyException",
       "The group is not empty."),
    _e(69, False, "GroupIdNotFoundException",
       "The group id does not exist."),
    _e(70, True, "FetchSessionIdNotFoundException",
       "The fetch session ID was not found."),
    _e(71, True, "InvalidFetchSessionEpochException",
       "The fetch session epoch is invalid."),
    _e(72, True, "ListenerNotFoundException",
       "There is no listener on the leader broker that matches the listener on which metadata request was processed."),
    _e(73, False, "TopicDeletionDisabledException",
       "Topic deletion is disabled."),
    _e(74, True, "FencedLeaderEpochException",
       "The leader epoch in the request is older than the epoch on the broker."),
    _e(75, True, "UnknownLeaderEpochException",
       "The leader epoch in the request is newer than the epoch on the broker."),
    _e(76, False, "UnsupportedCompressionTypeException",
       "The requesting client does not support the compression type of given partition."),
    _e(77, False, "StaleBrokerEpochException",
       "Broker epoch has changed."),
    _e(78, True, "OffsetNotAvailableException",
       "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing."),
    _e(79, False, "MemberIdRequiredException",
       "The group member needs to have a valid member id before actually entering a consumer group."),
    _e(80, True, "PreferredLeaderNotAvailableException",
       "The preferred leader was not available."),
    _e(81, False, "GroupMaxSizeReachedException",
       "The consumer group has reached its max size."),
    _e(82, False, "FencedInstanceIdException",
       "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id."),
    _e(83, True, "EligibleLeadersNotAvailableException",
       "Eligible topic partition leaders are not available."),
    _e(84, True, "ElectionNotNeededException",
       "Leader election not needed for topic partition."),
    _e(85, False, "NoReassignmentInProgressException",
       "No partition reassignment is in progress."),
    _e(86, False, "GroupSubscribedToTopicException",
       "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it."),
    _e(87, False, "InvalidRecordException",
       "This record has failed the validation on broker and hence will be rejected."),
    _e(88, True, "UnstableOffsetCommitException",
       "There are unstable offsets that need to be cleared."),
    _e(89, True, "ThrottlingQuotaExceededException",
       "The throttling quota has been exceeded."),
    _e(90, False, "ProducerFencedException",
       "There is a newer producer with the same transactionalId which fences the current one."),
    _e(91, False, "ResourceNotFoundException",
       "A request illegally referred to a resource that does not exist."),
    _e(92, False, "DuplicateResourceException",
       "A request illegally referred to the same resource twice."),
    _e(93, False, "UnacceptableCredentialException",
       "Requested credential would not meet criteria for acceptability."),
    _e(94, False, "InconsistentVoterSetException",
       "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters."),
    _e(95, False, "InvalidUpdateVersionException",
       "The given update version was invalid."),
    _e(96, False, "FeatureUpdateFailedException",
       "Unable to update finalized features due to an unexpected server error."),
    _e(97, False, "PrincipalDeserializationException",
       "Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup."),
    _e(98, False, "SnapshotNotFoundException",
       "Requested snapshot was not found."),
    _e(99, False, "PositionOutOfRangeException",
       "Requested position is not greater than or equal to zero, and less than the size of the snapshot."),
    _e(100, True, "UnknownTopicIdException",
       "This server does not host this topic ID."),
    _e(101, False, "DuplicateBrokerRegistrationException",
       "This broker ID is already in use."),
    _e(102, False, "BrokerIdNotRegisteredException",
       "The given broker ID was not registered."),
    _e(103, True, "InconsistentTopicIdException",
       "The log's topic ID did not match the topic ID in the request."),
    _e(104, False, "InconsistentClusterIdException",
       "The clusterId in the request does not match that found on the server."),
    _e(105, False, "TransactionalIdNotFoundException",
       "The transactionalId could not be found."),
    _e(106, True, "FetchSessionTopicIdException",
       "The fetch session encountered inconsistent topic ID usage."),
    _e(107, False, "IneligibleReplicaException",
       "The new ISR contains at least one ineligible replica."),
    _e(108, False, "NewLeaderElectedException",
       "The AlterPartition request successfully updated the partition state but the leader has changed."),
    _e(109, False, "OffsetMovedToTieredStorageException",
       "The requested offset is moved to tiered storage."),
    _e(110, False, "FencedMemberEpochException",
       "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin."),
    _e(111, False, "UnreleasedInstanceIdException",
       "The instance ID is still used by another member in the consumer group. That member must leave first."),
    _e(112, False, "UnsupportedAssignorException",
       "The assignor or its version range is not supported by the consumer group."),
    _e(113, False, "StaleMemberEpochException",
       "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API."),
    _e(114, False, "MismatchedEndpointTypeException",
       "The request was sent to an endpoint of the wrong type."),
    _e(115, False, "UnsupportedEndpointTypeException",
       "This endpoint type is not supported yet."),
    _e(116, False, "UnknownControllerIdException",
       "This controller ID is not known."),
    _e(117, False, "UnknownSubscriptionIdException",
       "Client sent a push telemetry request with an invalid or outdated subscription ID."),
    _e(118, False, "TelemetryTooLargeException",
       "Client sent a push telemetry request larger than the maximum size the broker will accept."),
    _e(119, False, "InvalidRegistrationException",
       "The controller has considered the broker registration to be invalid."),
    _e(120, False, "TransactionAbortableException",
       "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID."),
    _e(121, False, "InvalidRecordStateException",
       "The record state is invalid. The acknowledgement of delivery could not be completed."),
    _e(122, True, "ShareSessionNotFoundException",
       "The share session was not found."),
    _e(123, True, "InvalidShareSessionEpochException",
       "The share session epoch is invalid."),
    _e(124, False, "FencedStateEpochException",
       "The share coordinator rejected the request because the share-group state epoch did not match."),
    _e(125, False, "InvalidVoterKeyException",
       "The voter key doesn't match the receiving replica's key."),
    _e(126, False, "DuplicateVoterException",
       "The voter is already part of the set of voters."),
    _e(127, False, "VoterNotFoundException",
       "The voter is not part of the set of voters."),
    _e(128, False, "InvalidRegularExpression",
       "The regular expression is not valid.", "4.0"),
    _e(129, False, "RebootstrapRequiredException",
       "Client metadata is stale, client should rebootstrap to obtain new metadata.", "4.0"),
)}
# fmt: on


def error_info(code: int) -> ErrorInfo | None:
    """The table row for ``code``, or None for a code Kafka does not define."""
    return ERRORS.get(code)


def is_retriable(code: int) -> bool:
    """True for codes a client may retry (unknown codes are not retriable)."""
    info = ERRORS.get(code)
    return info is not None and info.retriable
