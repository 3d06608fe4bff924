"""The invoicing domain: pure functions over immutable values, no I/O, no framework."""
