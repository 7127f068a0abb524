"""Service types of the stand-in: present so ``import composition_interfaces.srv`` works."""


class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("composition_interfaces is a test stand-in: composable nodes are not "
                           "supported on this install")

    Request = Response = property(lambda self: None)


LoadNode = UnloadNode = ListNodes = _Unavailable
