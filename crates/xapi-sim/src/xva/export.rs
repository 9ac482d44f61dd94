//! Writing an XVA: `ova.xml` and the disks of one VM (see [`super`]).
