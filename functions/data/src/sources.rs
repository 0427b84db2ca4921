//! The upstream sources.
