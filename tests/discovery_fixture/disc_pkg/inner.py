from reverie import service

from . import PkgRoot  # relative imports work: the package is imported as a package


@service(sid="sid://reverie.test/disc/pkg/inner")
class Inner:
    root_sid = PkgRoot.__name__
