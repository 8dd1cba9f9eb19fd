from reverie import service


@service(sid="sid://reverie.test/disc/pkg/deep")
class Deep:
    pass
