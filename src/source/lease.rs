//! Kinesis shard leases (in progress).
