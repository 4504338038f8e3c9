"""Pure layout builders of the screens: no I/O at import, no callbacks."""
