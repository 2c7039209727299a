"""``python -m quant_assets.cli``: the same command line as ``quant-assets``."""

from quant_assets.cli import main

main()
