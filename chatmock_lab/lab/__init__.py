"""The notebook lab: magics, widgets and the tools behind them."""
