"""A good module that imports a sibling (works because discovery puts the folder on sys.path)."""

from disc_alpha import Alpha  # re-exported here, but registered from disc_alpha only

from reverie import depends, service


@service(sid="sid://reverie.test/disc/beta")
class Beta:
    alpha = depends(Alpha)


__all__ = ["Alpha", "Beta"]
