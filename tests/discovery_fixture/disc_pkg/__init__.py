"""A package: its __init__ and every submodule are scanned."""

from reverie import service


@service(sid="sid://reverie.test/disc/pkg")
class PkgRoot:
    pass
