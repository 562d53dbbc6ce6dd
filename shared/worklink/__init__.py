"""WorkLink shared platform library.

One installable package used by every WorkLink service: the event envelope and
catalogue, the transactional outbox and its relay, the idempotent consumer,
web conventions (problem details, request ids, JSON logs), auth and audit.
"""

__version__ = "0.1.0"
