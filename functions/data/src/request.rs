//! Parsing of the data request body into domain types.
