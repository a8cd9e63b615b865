"""Proof obligation modules: every module here is imported by proofs.obligation.all_obligations()."""
