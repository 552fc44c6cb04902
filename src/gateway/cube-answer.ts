/** The body and Content-Type of one answer to Cube's POST /attestation (protocols.md §8.2). */
export interface CubeAnswer {
  body: Buffer;
  contentType: 'application/json' | 'application/octet-stream';
}

/** Cube's rule (agent/api/transport.go): JSON when the body starts with '{' or '[', else octet-stream. */
export function cubeAnswer(body: Buffer): CubeAnswer {
  const first = body[0];
  return { body, contentType: first === 0x7b || first === 0x5b ? 'application/json' : 'application/octet-stream' };
}

/**
 * protojson's output as Cube asks for it (MarshalOptions{Multiline: true,
 * Indent: "\t"}): one field per line, tab-indented. protojson sometimes adds a
 * second space after a colon on purpose (its output is not stable); readers
 * parse JSON, so the single space here is one of its valid forms.
 */
export function cubeJson(json: unknown): Buffer {
  return Buffer.from(JSON.stringify(json, null, '\t'));
}

/**
 * An error answer in the shape of Cube's agent, `{"error": "<message>"}` (protocols.md §8.2): its
 * Go clients decode `error` as a string, so the gateway's usual `{"error": {code, message}}` would
 * be a decode error there. The stable code travels alongside as `code`.
 */
export function cubeErrorBody(code: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ error: message, code }));
}

/**
 * What `--cube-attestation` (`cubeAttestation: true`) costs, logged as a WARNING at every start (s15 red
 * team, key-broker finding 1: the warning named only the /v1/attestation relay). The route signs any
 * 64 bytes anyone who reaches it chooses, and no REPORTDATA encoding can separate that from a key
 * broker's binding SHA-512(val ‖ iat ‖ user_data), which ITA-style clients need unlabelled.
 * The flag itself is not measured (s15 change review of bb22d56, finding 1): a TEE started with it
 * quotes the same measurements as without it, so only measured content that keeps it off can
 * separate a key-release TEE from one serving the route; a host-chosen MRCONFIGID / HOST_DATA
 * alone proves nothing. The gateway extends no RTMR when the flag is on (not done: the configfs-tsm
 * report interface it uses has no RTMR extension).
 */
export const CUBE_ATTESTATION_WARNING =
  "Cube's POST /attestation is on (--cube-attestation): this TEE signs caller-chosen REPORTDATA for anyone who can reach " +
  'the route, without an API key. So (1) a relay can pass the /v1/attestation binding, and (2) KEY-BROKER RELEASES: anyone ' +
  "who can reach it can have this TEE sign a key broker's binding SHA-512(val || iat || user_data) for their own RSA key, so any " +
  "key policy (tee-kbs or any ITA-style broker) that admits this TEE's measurements releases its keys to them. No key-release " +
  'policy may admit a TEE that serves this route. THIS FLAG IS NOT MEASURED: with it this TEE quotes the same MRTD, RTMRs, ' +
  'MRCONFIGID and HOST_DATA (SEV-SNP: MEASUREMENT, HOST_DATA) as without it, and whoever launches the TEE chooses it. A key ' +
  'policy can exclude this TEE only through measured content that cannot have the flag on: the gateway command line fixed in ' +
  'the measured image or kernel command line, or an init-data / agent policy that fixes the container arguments, is enforced ' +
  'by the measured guest, and is hashed into the pinned MRCONFIGID (TDX) or HOST_DATA (SEV-SNP). A host-chosen MRCONFIGID / ' +
  'HOST_DATA value alone proves nothing, and on Kata / Confidential Containers MRTD and the RTMRs cover neither the container ' +
  'image nor its args (docs/gateway.md, "Drop-in endpoints")';

/** The `--cube-attestation` line of `tee-gateway --help` (cli.ts), with the same two costs. */
export const CUBE_ATTESTATION_HELP =
  "(Cube's POST /attestation, off by default: this TEE signs caller-chosen REPORTDATA for anyone, which voids the\n" +
  '                                           /v1/attestation binding AND lets anyone obtain key-broker keys (tee-kbs or any\n' +
  "                                           ITA-style broker) whose key policy admits this TEE's measurements: never serve it\n" +
  '                                           from a TEE that a key-release policy admits. The flag is NOT MEASURED: only\n' +
  '                                           measured content that cannot have it on (the image, the kernel command line,\n' +
  '                                           or an enforced init-data / agent policy hashed into MRCONFIGID / HOST_DATA)\n' +
  '                                           keeps such a TEE apart; a host-chosen value alone proves nothing; docs/gateway.md)';
