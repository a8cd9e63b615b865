"""Z3's AST getters without the Python wrappers, for walks over the proofs' large terms.

A wrapper call (ExprRef.children, is_app, ...) checks Z3's error state and wraps every node it
returns; over a query of thousands of nodes that is most of the time a walk takes. A getter cannot
fail on a live AST, so the walks call the C entry points directly, on raw ASTs.
"""

from __future__ import annotations

from typing import Any

from z3 import z3core as _C


def raw(f: Any) -> Any:
    """The unchecked C entry point of a z3core getter (a getter cannot fail on a live AST)."""
    return f.__defaults__[0].f


ast_id, ast_kind, app_decl, decl_kind = (raw(_C.Z3_get_ast_id), raw(_C.Z3_get_ast_kind), raw(_C.Z3_get_app_decl),
                                         raw(_C.Z3_get_decl_kind))
num_args, app_arg, get_sort, sort_kind = (raw(_C.Z3_get_app_num_args), raw(_C.Z3_get_app_arg), raw(_C.Z3_get_sort),
                                          raw(_C.Z3_get_sort_kind))
var_index, quantifier_body = raw(_C.Z3_get_index_value), raw(_C.Z3_get_quantifier_body)
