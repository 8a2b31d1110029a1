"""The economising levers a plan can pull, and what each does to quality and one-time cost.

- ``quality``     a model's score after precision and adaptation, with its range and sources
- ``adaptation``  per (model, precision), the adaptation a plan uses (cheapest meeting the floor)
- ``finetune``    one-time cost of adapting: training memory, chips, hours and dollars
"""

from planner.levers.adaptation import Choice, choose
from planner.levers.finetune import TrainingOption, adaptation_options
from planner.levers.quality import QualityEstimate, quality

__all__ = ["Choice", "QualityEstimate", "TrainingOption", "adaptation_options", "choose", "quality"]
