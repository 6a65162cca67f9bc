"""Certified exact mode: exact region sets, certificate files and an independent verifier.

Exact attributions of networks with float weights are rationals whose numerators and denominators
can have many thousands of digits; Python limits int <-> str conversion to 4300 digits by default
(a guard against quadratic-time parsing of untrusted input).  Certificates must write and read
these numbers exactly, so importing this package lifts the limit for the process.
"""

import sys as _sys

if hasattr(_sys, "set_int_max_str_digits"):
    _sys.set_int_max_str_digits(0)
