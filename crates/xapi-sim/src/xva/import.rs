//! Reading an XVA back into the pool (see [`super`]).
