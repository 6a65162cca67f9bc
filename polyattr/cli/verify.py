"""``polyattr verify MODEL CERT``: recheck a certificate with the independent verifier."""

from __future__ import annotations

from polyattr.cli.commands import command_help
from polyattr.errors import PolyattrError


def register(sub) -> None:
    p = sub.add_parser("verify", help=command_help("verify"))
    p.add_argument("model", help="model file (.npz or .json) the certificate was written for")
    p.add_argument("certificate", help="certificate file (.json)")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args) -> int:
    """Exit 0 and print 'valid' when every check holds; exit 1 naming the first failing item."""
    from polyattr.certify.verify import CertificateInvalid, VerifierInputError, verify_certificate

    try:
        what = verify_certificate(args.model, args.certificate)
    except CertificateInvalid as exc:
        print(f"invalid: {exc}")
        return 1
    except VerifierInputError as exc:
        raise PolyattrError(str(exc)) from None
    print(f"valid ({what})")
    return 0
