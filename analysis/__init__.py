"""Reading results: reports with honest statistics, computed from rows when asked."""

from runbench.analysis.report import Report, build_report, wilson_interval

__all__ = ["Report", "build_report", "wilson_interval"]
