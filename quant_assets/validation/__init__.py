"""Cross-engine validation: the same target weights on our engine, vectorbt, backtrader and zipline."""
