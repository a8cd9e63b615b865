"""Z3 proof obligations over the spec (and impl's fast path), the runner, its reports and the seeded-bug catalogue."""
