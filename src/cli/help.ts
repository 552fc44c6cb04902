/** Help texts, with examples for every subcommand (docs/cli.md has the full reference). */

const EXIT_CODES = `Exit codes: 0 trusted / success, 1 rejected (verification, policy or malformed
evidence), 2 usage error or unreadable input file, 3 collateral unavailable
(retry later), 70 internal error.`;

const MAIN = `tee-verify: attestation evidence tools (Intel TDX / SGX quotes, AMD SEV-SNP reports)

Usage:
  tee-verify verify <file> [options] [--json]    verify evidence and judge it with a policy
  tee-verify show <file> [--json]                parse and print evidence (no verification)
  tee-verify collateral fetch|export|import|show collateral bundles for offline use
  tee-verify collateral prune --older-than <days> remove long-expired cached versions
  tee-verify policy lint|schema|default          check and print policies
  tee-verify dev quote --tee tdx|sgx|snp --out <dir>   simulated evidence of the test PKI
  tee-verify dev vtpm-evidence --out <file>      inside a confidential VM: quote the vTPM, write a bundle
  tee-verify batch ...                           re-verify an archive of evidence
  tee-verify demo                                offline self-check: synthetic vectors, then full
                                                 verification of simulated TDX and SEV-SNP evidence
  tee-verify chat --gateway URL --policy FILE    attested chat: verify the gateway, then talk
  tee-verify serve [--listen HOST:PORT] ...      attestation service: evidence in, result + EAR JWT out
  tee-verify --help | help <command>             help ("tee-verify help verify")

Examples:
  tee-verify verify quote.bin
  tee-verify verify quote.bin --json --policy policy.json --report-data <128 hex>
  tee-verify collateral fetch quote.bin --out bundle.json
  tee-verify verify quote.bin --offline --collateral bundle.json
  tee-verify dev quote --tee tdx --out /tmp/dev

${EXIT_CODES}
`;

const VERIFY = `tee-verify verify <file> [options]

Verifies a TDX (v4, v5) or SGX (v3) quote or an SEV-SNP report (v3-v5; v2 with
--product) against Intel's / AMD's pinned roots and collateral at one instant,
then judges the result with a policy (default: TCB status UpToDate only, debug
forbidden). Prints each executed check with its checklist id, the TCB status,
advisories, policy violations and warnings.

Options:
  --json                 one JSON object on stdout: ok, tee, at, tcbStatus,
                         advisoryIds, error, violations, warnings, checks, claims
  --at <ISO-8601>        verification instant (default: now), e.g. 2025-07-19T10:00:34Z
  --policy <file>        native policy JSON (see "tee-verify policy schema")
  --report-data <hex>    expected REPORT_DATA, 64 bytes as 128 hex digits
  --pcs-url <base>       Intel PCS v4 or PCCS base (default https://api.trustedservices.intel.com)
  --kds-url <base>       AMD KDS base (default https://kdsintf.amd.com)
  --product <p>          Milan, Genoa or Turin: needed for SEV-SNP v2 reports
                         (accepts report versions 2-5)
  --certs <pem-file>     VCEK / VLEK / ASK / ASVK / ARK certificates used instead
                         of fetching
  --trust-root <pem>     replaces the pinned roots (test PKIs, private deployments);
                         reported as a warning
  --skip-crl             verify without CRLs that cannot be obtained (air-gapped);
                         reported as a warning
  --cache-dir <dir>      collateral cache (default $XDG_CACHE_HOME/tee-verify)
  --no-cache             no cache at all
  --offline              no network: collateral from --collateral, --certs and the cache
  --collateral <file>    a tee-verify bundle or dcap-qvl collateral JSON (detected)
  --retries <n>          HTTP retries per request (default 3)
  --encoding <e>         auto (default), binary, hex, base64
  --trailing <mode>      default: zero padding after the structure is accepted;
                         strict: any trailing byte is an error;
                         dangerouslyLenient: non-zero trailing bytes are ignored
                         (reported as a warning)

vTPM evidence bundles (tee-verify/vtpm-bundle@1, docs/vtpm.md) are detected by
content: hardware report, TPM quote(s), boot event log and IMA list replayed.
  --nonce <hex>          the expected TPM quote extraData (1-64 bytes; under 16
                         adds a warning: freshness is not established)
  --ak <file>            pin the attestation key (TPMT_PUBLIC or PEM); with a
                         hardware report its bound key (HCLAkPub) must be this one
  --ak-name <hex>        the attestation key's TPM Name (nameAlg + digest): binds
                         its attributes, so VT05 (restricted signing key) is
                         checked instead of warned as not checked
  --allow-sha1           accept a SHA-1-only PCR bank (reported as a warning)
These four apply to bundles only (on a quote or report: exit 2). A TPM-only
bundle is judged by the "vtpm" section of --policy alone; a policy pinning
hardware claims, or without that section, is refused (exit 2).

Examples:
  tee-verify verify quote.bin
  tee-verify verify quote.bin --at 2025-07-19T10:00:34Z --pcs-url https://pccs.example:8081
  tee-verify verify report.bin --json --policy snp-policy.json
  tee-verify verify report-v2.bin --product Milan --certs vcek-ask-ark.pem --skip-crl
  tee-verify verify quote.bin --offline --collateral bundle.json

${EXIT_CODES}
With --json, stdout carries exactly one JSON object even on errors ("tee" is
null when the failure came before the TEE was known).
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

Examples:
  tee-verify show quote.bin
  tee-verify show quote.hex --json
  tee-verify show report.bin --product Milan

Exit codes: 0 parsed, 1 malformed evidence (error code, byte offset and check id
on stderr), 2 usage error or unreadable / empty file.
`;

const COLLATERAL = `tee-verify collateral <command>

  fetch <evidence> --out <bundle.json>   fetch what the evidence needs (Intel TCB
                                         info, QE identity, CRLs; AMD VCEK,
                                         cert_chain, CRL) and write a bundle
  export <evidence> --out <bundle.json>  the same from the cache only (no network)
  import <file> --out <bundle.json>      convert dcap-qvl collateral JSON (or a
                                         bundle) into a tee-verify bundle
  show <bundle>                          list a bundle's artifacts and windows
  prune --older-than <days>              remove cached versions whose validity
                                         ended more than <days> ago (never the
                                         rollback floors; nothing is pruned
                                         unless asked: batch re-verification at
                                         past instants needs old versions)

fetch options: --at, --pcs-url, --kds-url, --product, --certs, --cache-dir,
--no-cache, --offline, --collateral, --retries (as for verify).
export options: --at, --product, --certs, --cache-dir, --no-cache, --collateral
(--offline is implied: export reads the cache, --collateral and --certs only).
prune options: --older-than <days> (required), --cache-dir <dir> (default
$XDG_CACHE_HOME/tee-verify), --dry-run (count, remove nothing).

Examples:
  tee-verify collateral fetch quote.bin --pcs-url https://pccs.example:8081 --out bundle.json
  tee-verify collateral fetch report.bin --at 2025-09-01T00:00:00Z --out snp-bundle.json
  tee-verify collateral import dcap-qvl-collateral.json --out bundle.json
  tee-verify collateral show bundle.json
  tee-verify collateral prune --older-than 90 --dry-run

Exit codes: 0 written (prune: done, also --dry-run), 1 evidence rejected or
collateral expired at the instant, 2 usage or unreadable file (prune: an
unusable cache directory), 3 collateral unavailable, 70 prune could not
remove an expired version, or could not write the rollback floor file it
writes before removing a verified one (that version is kept).
`;

const POLICY = `tee-verify policy <command>

  lint <file>        validate a policy: exit 0 valid, 1 invalid (the JSON pointer
                     of the bad field is printed), 2 unreadable
  schema             print the policy JSON Schema
  default <tee>      print the default policy of tdx, sgx or snp

Examples:
  tee-verify policy lint policy.json
  tee-verify policy schema > policy.schema.json
  tee-verify policy default snp > policy.json
`;

const DEV = `tee-verify dev quote --tee tdx|sgx|snp --out <dir> [options]

Writes simulated evidence signed by the synthetic test PKI, for development
without hardware or network:
  <dir>/evidence.bin     the quote or report
  <dir>/collateral.json  its collateral bundle (valid from a day before --at
                         to 29 days after)
  <dir>/trust-root.pem   the test root(s), never trusted in production

Options:
  --at <ISO-8601>        the instant the collateral is current at (default: now)
  --version 4|5          TDX quote version (default 4)
  --product <p>          SEV-SNP product: Milan (default), Genoa, Turin
  --seed <text>          test PKI seed (default "tee-verify dev")

Example:
  tee-verify dev quote --tee tdx --out /tmp/dev
  tee-verify verify /tmp/dev/evidence.bin --offline --collateral /tmp/dev/collateral.json --trust-root /tmp/dev/trust-root.pem

Inside a confidential VM with a vTPM, "tee-verify dev vtpm-evidence --out <file>"
quotes the vTPM with a fresh nonce (tpm2-tools) and packages the hardware report,
quote and logs as one bundle (tee-verify dev vtpm-evidence --help).
`;

const DEMO = `tee-verify demo [--vectors <dir>]

Runs offline (no network) in two parts, printing each check with its
checklist id.

1. The synthetic vectors shipped in the package's vectors/ folder (or <dir>),
   checked structurally and cryptographically, without collateral:
  Intel quotes: T02-T07 parse, T08 PCK chain split into 3 certificates,
                T23 QE report data binding, T22 QE report signature by the PCK
                leaf key, T26 quote signature.
  SNP reports:  S02-S04 parse (S05 certificate table when present),
                S12 report signature by the VCEK, S13 VCEK TCB vs REPORTED_TCB,
                S14 VCEK hwID vs CHIP_ID.
2. Full verification of a simulated TDX quote and a simulated SEV-SNP report
   at a fixed instant: pinned (test) roots, PCK / VCEK chains, CRLs, TCB info,
   QE identity, TCB status, every check verifyEvidence runs, then the default
   policy.

Both parts use the project's synthetic test PKI, trusted here only through
explicit test roots and never in production: the demo shows the checks, it
does not vouch for any real platform.

Example:
  tee-verify demo

Exit 0 when every check passed, 1 otherwise, 2 when the vectors cannot be read.
`;

const CHAT = `tee-verify chat --gateway URL --policy FILE [options]

Attested chat through a tee-gateway (docs/gateway.md). Before any prompt
leaves: a fresh nonce is sent to POST /v1/attestation, the evidence is verified
(signatures, chain, collateral), its REPORTDATA must bind that nonce and the
TLS key of this very connection, and the policy must accept it. Prints what it
verified (TEE, TCB status, measurements, certificate fingerprint), then streams
the answers. Requests go only over connections presenting the verified key.
A policy that pins no code measurement (TDX mrTd, SGX mrEnclave and mrSigner,
SEV-SNP measurement all "any") is used, with a warning on stderr: it proves
genuine, current hardware, not which code the gateway runs.

Options:
  --prompt <text>        one-shot: send this prompt, print the answer, exit
                         (without it: interactive, one prompt per input line,
                         the conversation kept; /reset, /exit)
  --json                 with --prompt: one JSON object on stdout
                         {ok, gateway, verification, answer} or {ok, error}
  --token <key>          the gateway API key (default $TEE_GATEWAY_TOKEN)
  --api ollama|openai    /api/chat NDJSON (default) or /v1/chat/completions SSE
  --model <name>         default llama3.2 (ollama), gpt-4o-mini (openai)
  --simulated-state <f>  trust the test PKI and collateral of a simulated TEE
                         (tee-gateway serve --simulated-state <f>); development only
  --collateral <bundle>  collateral from a bundle instead of Intel PCS / AMD KDS
  --trust-root <pem>     replaces the pinned roots (reported as a warning)
  --reference <file>     the image's vTPM reference list (docs/vtpm-reference.md),
                         judged by the policy's "vtpm" section
  --no-vtpm              ask for plain hardware evidence only (a policy with a
                         "vtpm" section then refuses the gateway)
  --handshake-evidence   ask for the evidence in the TLS handshake (the nonce in
                         the server name, the evidence in the certificate): one
                         round trip less per attested connection; falls back to
                         the request when the gateway sends none. Not with a
                         policy "vtpm" section (docs/gateway.md)
  --answer-timeout <s>   the longest one answer may take, whole seconds from
                         sending the prompt (default 600, 0 = no bound); past
                         it the request is aborted, exit 3

Examples:
  tee-verify chat --gateway https://10.0.0.5:8443 --policy policy.json
  tee-verify chat --gateway https://127.0.0.1:8443 --policy policy.json \\
      --simulated-state sim.json --prompt "hello" --json

Exit codes: 0 success; 1 gateway refused (its attestation or the policy
failed; the reason and check ids on stderr; no prompt byte sent); 2 usage
error or a failed request (a 4xx answer such as a wrong API key, a 3xx
answer (redirects are not followed), an error the model backend reported, an
answer line over 1 MiB); 3 retry later, nothing about the gateway was judged:
collateral unavailable, the gateway unreachable (connection refused, reset or
timed out, name not resolved), a TLS handshake or attestation exchange that
timed out or was closed early, a 5xx answer to the attestation or the chat
request, a chat answer that ended before its last message (--json:
ERR_CHAT_UNAVAILABLE after the verification), a request not sent because the
gateway's key changed meanwhile, or its attestation rate limit (429) still
reached after one retry; 70 internal error of this client (its native addon
did not load, a bug): nothing was judged about the gateway (--json: the
error's own code, such as ERR_NATIVE_LOAD).
`;

/** Only for error hints; "help batch" and "batch --help" print src/cli/batch.ts's own help. */
const BATCH = `tee-verify batch ...

Re-verifies an archive of stored evidence; see "tee-verify batch --help".
`;

const SERVE = `tee-verify serve [options]

An HTTP(S) verification service (docs/attestation-service.md). Remote clients
post evidence; the answer is the verification result and an EAR JWT signed
with the service's key (published at /jwks.json).

Routes:
  POST /v1/verify                 {evidence, policy?, nonce?, reportData?, certTable?}
                                  or a trustee body: JSON result with "token"
  POST /attestation, /v1/attestation   trustee restful AS body (what open-webui
                                  posts): the JWT text, only when ok
  GET  /jwks.json  /health  /metrics
  POST bodies must be Content-Type: application/json (else 415) and strict JSON
  (a duplicate key is a 400). A result judged under a policy document sent in
  the request carries a warning naming it (EAR status at most "warning").

Options:
  --listen <host:port>     default 127.0.0.1:8080; an address that is not loopback
                           needs --tls-cert/--tls-key or --force-plain-http
  --tls-cert <pem> --tls-key <pem>   serve HTTPS
  --force-plain-http       plain HTTP on an address that is not loopback (behind a
                           TLS-terminating proxy); a WARNING at start
  --signing-key <pem>      EC P-256 (ES256) or P-384 (ES384) private key;
                           default: a P-256 key generated at start
                           (key files, --tls-key too: no symbolic link, no group or
                           other access, owned by this user or root)
  --cors-origin <origin>   allow this browser origin (repeatable; "*" for any);
                           default none
  --policy [NAME=]<file>   a policy requests may name (repeatable; NAME defaults
                           to the policy's id, else the file name)
  --default-policy <NAME>  use that policy for its TEE when a request names none
                           (default: TCB status UpToDate only, debug forbidden)
  --open-webui-policy <NAME>  also put open-webui's tee / tcb-status claims in
                           tokens that pass this named policy (repeatable;
                           default: only the default policies')
  --no-inline-policy       refuse policy documents inside requests
  --token-ttl <s>          token lifetime (default 300, never past the collateral)
  --max-body <bytes>       request body bound (default 524288)
  --max-concurrent <n>     appraisals at once (default 16)
  --max-queued <n>         waiting before 503 (default 256)
  --max-per-client <n>     appraisals one client may have running or waiting
                           before 429 (default a quarter of --max-concurrent)
  --trusted-proxy <cidr>   believe X-Forwarded-For from this proxy range when
                           telling clients apart (repeatable; default none)
  --max-connections <n>    open connections at most (default 1024); bodies are read before a slot
  --max-connections-per-client <n>  open connections one client may hold (default a
                           sixteenth of --max-connections, at least 8); trusted proxies exempt
  --no-metrics             no GET /metrics
  --trust-root <pem>       replaces the pinned roots (test PKIs); a warning
  --skip-crl               verify without CRLs that cannot be obtained; a warning
  --at <ISO-8601>          judge every request at this past instant (recorded
                           collateral); a warning on every result
  --pcs-url, --kds-url, --cache-dir, --no-cache, --offline, --collateral, --retries
                           collateral sources, as for verify (--no-cache keeps an
                           in-memory cache)

Examples:
  tee-verify serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --cors-origin https://chat.example
  tee-verify dev quote --tee tdx --out /tmp/dev
  tee-verify serve --offline --collateral /tmp/dev/collateral.json --trust-root /tmp/dev/trust-root.pem

Runs until SIGINT / SIGTERM. Exit 2 when an option or file is unusable; 75 when
the --listen port is in use (retry later); 78 when the --listen address cannot
be bound otherwise.
`;

const TOPICS: Record<string, string> = { verify: VERIFY, show: SHOW, collateral: COLLATERAL, policy: POLICY, dev: DEV, demo: DEMO, chat: CHAT, serve: SERVE, batch: BATCH };

export function helpText(topic?: string): string | undefined {
  if (topic === undefined) return MAIN;
  return TOPICS[topic];
}

export const HELP_TOPICS = Object.keys(TOPICS);
