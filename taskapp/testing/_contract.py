"""TaskStoreContract: every test of the store contract, in one class to subclass."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ..stores.base import TaskStore
from ._inputs import InputContract
from ._leases import LeaseContract
from ._listing import ListingContract
from ._listing_all import AllOwnersListingContract
from ._records import RecordContract
from ._steps import StepContract
from ._waiting import WaitContract


@pytest.mark.anyio
class TaskStoreContract(
    AllOwnersListingContract,
    StepContract,
    LeaseContract,
    InputContract,
    WaitContract,
    ListingContract,
    RecordContract,
):
    """Subclass it in a test module and override the `store` fixture; pytest then runs
    every test below against your store. The class name has no `Test` prefix, so pytest
    does not collect it on its own.

    Example::

        import pytest
        from collections.abc import AsyncIterator
        from taskapp.testing import TaskStoreContract
        from mystore import MyStore

        class TestMyStore(TaskStoreContract):
            @pytest.fixture
            async def store(self) -> AsyncIterator[MyStore]:
                store = MyStore("...")
                await store.open()
                yield store
                await store.close()

    The fixture must yield an opened store; ids and owners are unique per test, so a
    store whose data outlives one test (a shared server) still passes.
    """

    @pytest.fixture
    async def store(self) -> AsyncIterator[TaskStore]:
        raise NotImplementedError(
            "override the `store` fixture: an async fixture that yields an opened store"
        )
        yield  # noqa: PT022 (an async generator, like the fixtures that override it)
