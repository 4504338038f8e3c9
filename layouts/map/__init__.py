"""The district map in the centre of the wall (and, with other IDs, on the tablet): static geography once, live
layers as small updates.

- geometry.py: what never changes (panes, subdistrict labels, corridor lines, bounds) and the GeoJSON helpers;
- layers.py: the live layers from the aggregates, and the map's sections of the wall's refresh;
- panel.py: the Leaflet map component, its legend and the wall's map panel.
"""
