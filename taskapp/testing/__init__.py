"""TaskStoreContract: the tests that every TaskStore must pass, taskapp's and yours.

Needs pytest and anyio's pytest plugin (installed with anyio). The tests are split by
concern (records, listing, waiting, creation notices, input requests, leases, steps and
dedupe keys);
`TaskStoreContract` inherits them all, so subclassing it runs every one against your store.
"""

from __future__ import annotations

from ._contract import TaskStoreContract as TaskStoreContract
from ._helpers import NOW as NOW
from ._helpers import listed as listed
from ._helpers import make_record as make_record

__all__ = ("NOW", "TaskStoreContract", "make_record")
