"""The performance model against measurements: predict records, fit efficiencies, report errors.

- ``predict``   each measurement record as a configuration, predicted by ``planner.model``
- ``fit``       efficiencies per hardware x runtime, shrunk toward priors, cross-validated
- ``validate``  errors per record, metric and group
"""

from planner.calibration.fit import FitOptions, FitResult, fit, repeated_cross_validate
from planner.calibration.predict import Measurement, RecordSet, predict, prepare
from planner.calibration.validate import Summary, by_group, by_metric, record_errors, summarise

__all__ = ["FitOptions", "FitResult", "Measurement", "RecordSet", "Summary", "by_group", "by_metric", "fit",
           "predict", "prepare", "record_errors", "repeated_cross_validate", "summarise"]
