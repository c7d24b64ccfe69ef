"""Baselines and site variables: files.py reads (bounded, with line numbers), template.py
substitutes variables and facts, loader.py loads baselines and vars, bundled.py holds the
precompiled bundled baselines. The names below are the package's interface."""

from sdcheck.baseline.files import MAX_FILE_BYTES, item_lines, line_of, load_yaml, read_input_file
from sdcheck.baseline.loader import (
                                     BASELINE_DIR,
                                     PROFILES,
                                     SECRET_VARS,
                                     Baseline,
                                     bundled_path,
                                     load_baseline,
                                     load_vars_file,
                                     merge_variables,
                                     parse_var_option,
)
from sdcheck.baseline.template import HOST_FACTS, interpolate, substitute_facts

__all__ = ["BASELINE_DIR", "HOST_FACTS", "MAX_FILE_BYTES", "PROFILES", "SECRET_VARS", "Baseline", "bundled_path",
           "interpolate", "item_lines", "line_of", "load_baseline", "load_vars_file", "load_yaml",
           "merge_variables", "parse_var_option", "read_input_file", "substitute_facts"]
