"""What a plan costs: prices per chip-hour chosen like for like, owned-hardware TCO, energy, carbon.

- ``pricing``  offers by provider, market and mode; the price a plan uses (median of one market by
               default, a user's price sheet first)
- ``owned``    total cost of owning a chip per hour (capex, host share, power at utilisation x PUE,
               hosting, operations), energy per token and grid carbon
"""

from planner.economics.owned import OwnedCost, owned_cost_per_chip_hour, owned_inputs
from planner.economics.pricing import PriceBook, PriceQuote, PricingSpec, Unpriced, select_price

__all__ = ["OwnedCost", "PriceBook", "PriceQuote", "PricingSpec", "Unpriced", "owned_cost_per_chip_hour",
           "owned_inputs", "select_price"]
