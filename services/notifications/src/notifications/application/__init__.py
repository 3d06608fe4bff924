"""Event handlers: keep the projection current, queue the mail events call for, deliver it."""
