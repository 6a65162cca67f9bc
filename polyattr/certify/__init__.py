"""Certified exact mode: exact region sets, certificate files and an independent verifier.

Exact attributions of networks with float weights are rationals whose numerators and denominators
can have many thousands of digits, beyond Python's default 4300-digit int <-> str limit.  Writing a
certificate lifts the limit only while it writes (:func:`polyattr.numbers.long_integer_strings`);
the verifier lifts it while it reads; importing this package changes no process-wide state.
"""
