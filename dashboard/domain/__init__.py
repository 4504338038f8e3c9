"""Fixed domain rules and pure functions shared by every room: the rules (``rules``), geography (``geo``), the
incident lifecycle (``lifecycle``), Beijing time (``beijing``), the heating season (``season``), crowd levels
(``crowd``) and the event models (``events``). Nothing here does I/O."""
