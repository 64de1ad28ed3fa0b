"""(filled in below)"""


def register(sub, bootstrap) -> None:
    pass
