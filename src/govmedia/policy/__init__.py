"""Retry and rate-limit policies: public value objects, used by the clients."""

from govmedia.policy.ratelimit import RateLimit
from govmedia.policy.retry import RetryPolicy

__all__ = ["RateLimit", "RetryPolicy"]
