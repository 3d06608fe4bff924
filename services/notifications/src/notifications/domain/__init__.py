"""What mail to send for an event and what it says: pure functions over immutable state, no I/O."""
