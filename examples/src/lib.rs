//! Runnable examples live beside this package: `cargo run -p tessera-examples --example NAME`.
