//! Running the requested sources concurrently and shaping the response.
