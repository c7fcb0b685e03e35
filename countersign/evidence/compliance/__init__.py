"""The compliance evidence pack (``countersign report compliance``): what the deployed gate
enforces and what its audit trail shows for a period, as one self-contained HTML page and
``evidence.json``. ``figures`` computes the trail's numbers (pure functions over parsed records),
``sources`` reads the stack or an export, ``evidence`` assembles the facts and the checklist,
``svg`` draws the plots and ``render`` writes the pack."""
