"""Pure builders of the screens: each panel's layout and the renderers of its sections of the wall's refresh
(layouts/section.py); no I/O at import, no callbacks (those are in callbacks/)."""
