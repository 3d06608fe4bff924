"""The subscriptions domain: Plan, Customer and Subscription as pure deciders.

Each aggregate is three things over frozen state: an initial state (``None``: the stream is
empty), ``decide(command, state, now) -> events`` (raises :class:`Rejected` when the command
must be refused) and ``evolve(state, event) -> state``. No I/O happens here: the application
layer loads streams, passes the clock's ``now`` and appends what ``decide`` returns.
"""
