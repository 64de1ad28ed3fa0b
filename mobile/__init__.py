"""Mobile H5 pages (issue 14): the links the system sends open here.

``/m/events/<number>?t=…`` — one event for one person (its reporter, or a staff member with a
task on it), by a signed link (backend.links); ``/q/<token>`` — a building unit's QR poster:
report right there. ``register(app)`` is the only entry point (mobile.web).
"""
