"""Old home of the quality finders, now :mod:`quant_assets.warehouse.price_quality`.

SQL lives in ``quant_assets/warehouse/``. Importing this name gives that very module (not a
copy of its names), so existing imports, attributes and test patches keep working; new code
imports ``quant_assets.warehouse.price_quality``.
"""

import sys

from quant_assets.warehouse import price_quality

sys.modules[__name__] = price_quality
