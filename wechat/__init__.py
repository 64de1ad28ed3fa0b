"""Adapter package; see DESIGN §1."""
