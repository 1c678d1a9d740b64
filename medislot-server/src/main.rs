//! Placeholder until its issue lands.
fn main() {}
