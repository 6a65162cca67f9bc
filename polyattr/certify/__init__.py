"""Certified exact mode: exact region sets, certificate files and an independent verifier.

Exact attributions of networks with float weights are rationals whose numerators and denominators
can have many thousands of digits; Python limits int <-> str conversion to 4300 digits by default
(a guard against quadratic-time parsing of untrusted input).  Certificates must write and read
these numbers exactly, so the writer and the verifier lift the limit only while they run and
restore it afterwards; importing this package changes nothing process-wide.
"""
