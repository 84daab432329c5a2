"""Price tables (YAML, Decimal) and the one cost function."""
from batchcost.pricing.cost import display_money, money, price_tokens
from batchcost.pricing.tables import MissingPrice, ModelPrice, PriceFileError, PriceTable, load_prices

__all__ = ["MissingPrice", "ModelPrice", "PriceFileError", "PriceTable", "display_money", "load_prices", "money",
           "price_tokens"]
