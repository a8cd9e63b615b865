"""Seeded-bug (mutant) modules: every module here is imported by proofs.mutants.all_mutants()."""
