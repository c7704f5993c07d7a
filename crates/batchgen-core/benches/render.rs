//! Criterion benches of the core (written next).
fn main() {}
