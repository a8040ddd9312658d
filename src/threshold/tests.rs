//! Unit tests of the threshold rules and the aggregator.
