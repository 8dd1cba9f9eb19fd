"""Claims Alpha's SID too: resolving it must fail until a binding picks one."""

from reverie import service


@service(sid="sid://reverie.test/disc/alpha")
class RivalAlpha:
    pass
