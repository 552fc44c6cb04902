/** Help texts. */

const MAIN = `tee-verify: attestation evidence tools (Intel TDX / SGX quotes, AMD SEV-SNP reports)

Usage:
  tee-verify demo [--vectors <dir>]
  tee-verify show <file> [--json] [--encoding auto|hex|base64|binary]
                         [--trailing default|strict|dangerouslyLenient]
                         [--product Milan|Genoa|Turin]
  tee-verify --help | help [command]

Commands:
  demo   Offline self-check on the package's synthetic vectors: parse, PCK chain
         split, QE binding, QE report and quote signatures, SNP report signature,
         VCEK TCB and hwID. Not a verification against Intel's or AMD's roots.
  show   Parse one evidence file and print a summary (or JSON with --json).

Exit codes: 0 ok, 1 a check failed or the evidence is malformed, 2 usage error
or unreadable file, 70 internal error.
`;

const DEMO = `tee-verify demo [--vectors <dir>]

Runs offline (no network) over the synthetic vectors shipped in the package's
vectors/ folder (or <dir>), printing each check with its checklist id:
  Intel quotes: T02-T07 parse, T08 PCK chain split into 3 certificates,
                T23 QE report data binding, T22 QE report signature by the PCK
                leaf key, T26 quote signature.
  SNP reports:  S02-S04 parse (S05 certificate table when present),
                S12 report signature by the VCEK, S13 VCEK TCB vs REPORTED_TCB,
                S14 VCEK hwID vs CHIP_ID.
Pinned Intel/AMD roots, CRLs, TCB Info and QE Identity are NOT checked: the
synthetic PKI is a test fixture and is never trusted in production.
Exit 0 when every check passed, 1 otherwise, 2 when the vectors cannot be read.
`;

const SHOW = `tee-verify show <file> [options]

Parses a TDX (v4, v5) or SGX (v3) quote or an SEV-SNP report (v2-v5) and prints
a readable summary. Parsing only: no signature or chain is verified.

Options:
  --json                   print the parsed evidence as JSON (hex bytes)
  --encoding <e>           auto (default), binary, hex, base64
  --trailing <mode>        default: zero padding after the structure is accepted;
                           strict: any trailing byte is an error;
                           dangerouslyLenient: non-zero trailing bytes are ignored
  --product <p>            SEV-SNP product (Milan, Genoa, Turin); needed to decode
                           the TCBs of v2 reports, must match the CPUID of v3+

On malformed evidence: exit 1, with the error code, byte offset and check id on
stderr; exit 2 for a usage error or a missing or empty file.
`;

export function helpText(topic?: string): string | undefined {
  if (topic === undefined) return MAIN;
  if (topic === 'demo') return DEMO;
  if (topic === 'show') return SHOW;
  return undefined;
}
