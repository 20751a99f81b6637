//! finconn-client's tests: fixtures and wire types, retries and pagination against a fake server, test
//! clocks against it, the dependency rule, and the whole flow against a real `finconn` binary.
#![expect(clippy::unwrap_used, reason = "tests")]

mod deps;
mod fake;
mod fixtures;
mod live;
mod retry;
mod test_clocks;
