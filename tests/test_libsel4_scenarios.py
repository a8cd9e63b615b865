"""Root-task scenarios written as an seL4 user writes them, with impl.libsel4, every call
refinement-checked: refinement.caps.checked(k) runs each seL4_Call on the kernel and on the
spec and fails on the first difference (abstract(kernel) against the spec's step, and the
reply the thread sees).

The user only sees what seL4 shows a thread: error codes, the words seL4_GetMR reads back,
and whether later calls succeed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import impl
from impl.kernel import Kernel
from impl.libsel4 import (
    seL4_CNode_CapData_new,
    seL4_CNode_Copy,
    seL4_CNode_Delete,
    seL4_CNode_Mint,
    seL4_CNode_Move,
    seL4_CNode_Mutate,
    seL4_CNode_Revoke,
    seL4_CNode_Rotate,
    seL4_CapRights_new,
    seL4_GetMR,
    seL4_Untyped_Retype,
)
from refinement.caps import Checked, RefinementError, checked
from spec import abi
from spec.abi import (
    seL4_AllRights,
    seL4_CapInitThreadCNode as ROOT,
    seL4_CapTableObject,
    seL4_DeleteFirst,
    seL4_EndpointObject,
    seL4_FailedLookup,
    seL4_GuardMismatch,
    seL4_IllegalOperation,
    seL4_NoError,
    seL4_NotEnoughMemory,
    seL4_NotificationObject,
    seL4_RevokeFirst,
    seL4_UntypedObject,
)

W = 64  # depth of a root-CNode slot (radix 12 below a 52-bit guard)


@pytest.fixture
def k() -> Iterator[Kernel]:
    """A booted system whose every seL4_Call is checked against the spec."""
    kernel = impl.boot()
    with checked(kernel):
        yield kernel


def ck(k: Kernel) -> Checked:
    """The checker installed on k."""
    checker = k.syscall.__self__  # type: ignore[attr-defined]
    assert isinstance(checker, Checked)
    return checker


def small_untyped(k: Kernel, at_least: int = 12) -> tuple[int, int]:
    """(cptr, size_bits) of the smallest non-device boot untyped of at least 2^at_least bytes."""
    bi = k.bootinfo
    assert bi is not None
    return min(((bi.untyped.start + i, d.size_bits) for i, d in enumerate(bi.untyped_list)
                if not d.is_device and d.size_bits >= at_least), key=lambda x: x[1])


def free_slots(k: Kernel, n: int) -> list[int]:
    """The first n slots of the bootinfo's empty region."""
    bi = k.bootinfo
    assert bi is not None and bi.empty.end - bi.empty.start >= n
    return list(range(bi.empty.start, bi.empty.start + n))


def test_cnode_of_endpoints_badges_revoke_delete_and_reuse(k: Kernel) -> None:
    ut, ut_bits = small_untyped(k)
    cnode, client_a, client_b, copy_a, scratch = free_slots(k, 5)
    radix = 4

    # A 16-slot CNode, and three endpoints retyped straight into its slots 0..2.
    assert seL4_Untyped_Retype(k, ut, seL4_CapTableObject, radix, ROOT, 0, 0, cnode, 1) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, seL4_EndpointObject, 0, ROOT, cnode, W, 0, 3) == seL4_NoError

    # Badged copies of endpoint 0 for two clients, addressed through the new CNode (depth = radix).
    assert seL4_CNode_Mint(k, ROOT, client_a, W, cnode, 0, radix, seL4_AllRights, 0xA) == seL4_NoError
    assert seL4_CNode_Mint(k, ROOT, client_b, W, cnode, 0, radix, seL4_CapRights_new(0, 0, 0, 1), 0xB) == seL4_NoError
    # A badge is set once: minting from a badged cap is refused.
    assert seL4_CNode_Mint(k, ROOT, scratch, W, ROOT, client_a, W, seL4_AllRights, 0xC) == seL4_IllegalOperation
    # Copies keep the badge and are the badged cap's children.
    assert seL4_CNode_Copy(k, ROOT, copy_a, W, ROOT, client_a, W, seL4_AllRights) == seL4_NoError

    # Revoking client A's cap takes its copy, not client B's.
    assert seL4_CNode_Revoke(k, ROOT, client_a, W) == seL4_NoError
    assert seL4_CNode_Move(k, ROOT, scratch, W, ROOT, copy_a, W) == seL4_FailedLookup  # the copy is gone
    assert seL4_CNode_Copy(k, ROOT, copy_a, W, ROOT, client_b, W, seL4_AllRights) == seL4_NoError  # B's is not

    # Revoking endpoint 0 itself takes every badged cap made from it.
    assert seL4_CNode_Revoke(k, cnode, 0, radix) == seL4_NoError
    for slot in (client_a, client_b, copy_a):
        assert seL4_CNode_Delete(k, ROOT, slot, W) == seL4_NoError  # still a valid, now empty, slot
        assert seL4_CNode_Move(k, ROOT, scratch, W, ROOT, slot, W) == seL4_FailedLookup

    # The untyped has children, so it cannot be copied until they are revoked.
    assert seL4_CNode_Copy(k, ROOT, scratch, W, ROOT, ut, W, seL4_AllRights) == seL4_RevokeFirst
    assert seL4_CNode_Delete(k, cnode, 1, radix) == seL4_NoError
    assert seL4_CNode_Revoke(k, ROOT, ut, W) == seL4_NoError  # the CNode (and endpoints 0, 2 in it) go
    assert seL4_CNode_Move(k, ROOT, scratch, W, ROOT, cnode, W) == seL4_FailedLookup

    # Retype again into the freed range: the whole untyped at once, which only fits if it was reset.
    assert seL4_Untyped_Retype(k, ut, seL4_UntypedObject, ut_bits, ROOT, 0, 0, cnode, 1) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, seL4_EndpointObject, 0, ROOT, 0, 0, scratch, 1) == seL4_NotEnoughMemory
    assert seL4_GetMR(k, 0) == 0  # no bytes left
    assert seL4_Untyped_Retype(k, cnode, seL4_NotificationObject, 0, ROOT, 0, 0, scratch, 2) == seL4_NoError
    assert len(ck(k).calls) == 23  # every call above was checked


def test_guarded_cnode_two_levels(k: Kernel) -> None:
    ut, _ = small_untyped(k)
    plain, guarded, ep, out = free_slots(k, 4)
    # A radix-3 CNode, then the same CNode under a 5-bit guard 0b10110: 8 bits per level.
    assert seL4_Untyped_Retype(k, ut, seL4_CapTableObject, 3, ROOT, 0, 0, plain, 1) == seL4_NoError
    guard = seL4_CNode_CapData_new(0b10110, 5)
    assert seL4_CNode_Mutate(k, ROOT, guarded, W, ROOT, plain, W, guard) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, seL4_EndpointObject, 0, ROOT, 0, 0, ep, 1) == seL4_NoError

    def index(*slots: int) -> int:
        """A cptr through the guarded CNode, one level per slot."""
        x = 0
        for s in slots:
            x = (x << 8) | (0b10110 << 3) | s
        return x

    # Slot 5 holds the guarded CNode's own cap, so a two-level path leads back into it.
    assert seL4_CNode_Copy(k, guarded, index(5), 8, ROOT, guarded, W, seL4_AllRights) == seL4_NoError
    assert seL4_CNode_Copy(k, guarded, index(5, 2), 16, ROOT, ep, W, seL4_AllRights) == seL4_NoError
    # Bits above the depth are not looked at.
    assert seL4_CNode_Copy(k, guarded, (0xFF << 16) | index(5, 3), 16, ROOT, ep, W, seL4_AllRights) == seL4_NoError
    assert seL4_CNode_Copy(k, ROOT, out, W, guarded, index(2), 8, seL4_AllRights) == seL4_NoError

    # A wrong guard at the second level: the lookup fails with 8 bits left and the guard it expected.
    wrong = (index(5) << 8) | (0b10111 << 3) | 2
    assert seL4_CNode_Delete(k, guarded, wrong, 16) == seL4_FailedLookup
    assert [seL4_GetMR(k, i) for i in range(5)] == [0, seL4_GuardMismatch, 8, 0b10110, 5]
    # Seven bits: the guard (read from the top five of them) matches, the radix does not fit.
    assert seL4_CNode_Delete(k, guarded, 0b10110 << 2, 7) == seL4_FailedLookup
    assert [seL4_GetMR(k, i) for i in range(4)] == [0, abi.seL4_DepthMismatch, 7, 8]
    assert len(ck(k).calls) == 9


def test_rotate_swap_and_three_slots(k: Kernel) -> None:
    ut, _ = small_untyped(k)
    a, b, c, ep = free_slots(k, 4)
    assert seL4_Untyped_Retype(k, ut, seL4_CapTableObject, 1, ROOT, 0, 0, a, 2) == seL4_NoError
    assert seL4_Untyped_Retype(k, ut, seL4_EndpointObject, 0, ROOT, 0, 0, ep, 1) == seL4_NoError
    g1, g2 = seL4_CNode_CapData_new(1, 2), seL4_CNode_CapData_new(3, 3)
    # src == dest: a swap of a and b, each taking the other's new guard word.
    assert seL4_CNode_Rotate(k, ROOT, a, W, g1, ROOT, b, W, g2, ROOT, a, W) == seL4_NoError
    # Three slots: b -> c, a -> b.
    assert seL4_CNode_Rotate(k, ROOT, c, W, 0, ROOT, b, W, 0, ROOT, a, W) == seL4_NoError
    assert seL4_CNode_Move(k, ROOT, a, W, ROOT, a, W) == seL4_FailedLookup  # a is empty now
    # The pivot must be a third slot; the destination must be empty; endpoints refuse new data.
    assert seL4_CNode_Rotate(k, ROOT, a, W, 0, ROOT, b, W, 0, ROOT, b, W) == seL4_IllegalOperation
    assert seL4_CNode_Rotate(k, ROOT, c, W, 0, ROOT, a, W, 0, ROOT, b, W) == seL4_DeleteFirst
    assert seL4_CNode_Rotate(k, ROOT, a, W, 0, ROOT, ep, W, 0, ROOT, b, W) == seL4_IllegalOperation
    assert len(ck(k).calls) == 8


def test_a_divergence_is_reported(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker is live: a kernel that forgets to advance the watermark is caught at once."""
    import impl.untyped
    ut, _ = small_untyped(k)
    (slot,) = free_slots(k, 1)
    real = impl.untyped.invoke_untyped_retype

    def forgetful(k: Kernel, src_slot: int, *args: object) -> None:
        before = k.ctes[src_slot].cap
        real(k, src_slot, *args)  # type: ignore[arg-type]
        k.ctes[src_slot].cap = before

    monkeypatch.setattr(impl.untyped, "invoke_untyped_retype", forgetful)
    with pytest.raises(RefinementError, match=r"(?s)state\) at call 0.*first difference: cap_free"):
        seL4_Untyped_Retype(k, ut, seL4_EndpointObject, 0, ROOT, 0, 0, slot, 1)
