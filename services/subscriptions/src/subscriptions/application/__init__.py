"""Command and event handlers: load streams, decide with the domain, append, answer."""
