"""Invoicing's use cases: react to subscription events, issue invoices, charge them."""
