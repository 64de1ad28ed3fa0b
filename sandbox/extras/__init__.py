"""Extra stand-ins: each module here with ``register(app, state)`` is loaded by the sandbox."""
