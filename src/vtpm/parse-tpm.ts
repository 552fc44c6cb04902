/** TPM 2.0 structures (TPMS_ATTEST quote, TPMT_SIGNATURE, TPMT_PUBLIC) from the native frames. */
import { native, isNativeFailure, type NativeSpan } from '../native/index.js';
import { hashName, requireBytes, view, vtpmError } from './parse-common.js';
import { TpmAlg, type TpmPcrSelection, type TpmPublic, type TpmQuote, type TpmSignature } from './types.js';

const at = (bytes: Uint8Array, s: NativeSpan): Uint8Array => view(bytes, s.offset, s.size);

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function pcrList(mask: number): number[] {
  const pcrs: number[] = [];
  for (let i = 0; i < 32; i++) if ((mask >>> i) & 1) pcrs.push(i);
  return pcrs;
}

export function parseTpmQuote(input: Uint8Array): TpmQuote {
  const bytes = requireBytes(input, 'TPM quote');
  const f = native().parseTpmQuote(bytes);
  if (isNativeFailure(f)) throw vtpmError(f, 'TPM quote (TPMS_ATTEST)');
  const dv = dataView(bytes);
  const c = f.clockInfoOffset;
  const pcrSelections: TpmPcrSelection[] = f.selections.map((s) => ({
    hashAlg: s.hashAlg,
    hash: hashName(s.hashAlg),
    pcrs: pcrList(s.mask),
  }));
  return {
    signed: bytes,
    magic: f.magic,
    type: f.type,
    qualifiedSigner: at(bytes, f.qualifiedSigner),
    extraData: at(bytes, f.extraData),
    clock: dv.getBigUint64(c),
    resetCount: dv.getUint32(c + 8),
    restartCount: dv.getUint32(c + 12),
    safe: f.safe === 1,
    firmwareVersion: dv.getBigUint64(f.firmwareVersionOffset),
    pcrSelections,
    pcrDigest: at(bytes, f.pcrDigest),
  };
}

export function parseTpmSignature(input: Uint8Array): TpmSignature {
  const bytes = requireBytes(input, 'TPM signature');
  const f = native().parseTpmSignature(bytes);
  if (isNativeFailure(f)) throw vtpmError(f, 'TPM signature (TPMT_SIGNATURE)');
  const common = { sigAlg: f.sigAlg, hashAlg: f.hashAlg, hash: hashName(f.hashAlg) };
  if (f.sigAlg === TpmAlg.ECDSA) {
    return { ...common, scheme: 'ecdsa', ecdsaR: at(bytes, f.first), ecdsaS: at(bytes, f.second) };
  }
  return { ...common, scheme: f.sigAlg === TpmAlg.RSAPSS ? 'rsapss' : 'rsassa', rsaSignature: at(bytes, f.first) };
}

/** The default RSA exponent a TPM encodes as 0 (TPM 2.0 Part 2, TPMS_RSA_PARMS). */
const DEFAULT_RSA_EXPONENT = 65537;

export function parseTpmPublic(input: Uint8Array, opts: { sized?: boolean } = {}): TpmPublic {
  const bytes = requireBytes(input, 'TPM public area');
  const sized = opts.sized === true;
  const f = native().parseTpmPublic(bytes, sized);
  if (isNativeFailure(f)) throw vtpmError(f, sized ? 'TPM public area (TPM2B_PUBLIC)' : 'TPM public area (TPMT_PUBLIC)');
  const common = {
    bytes: at(bytes, f.publicArea),
    nameAlg: f.nameAlg,
    objectAttributes: f.objectAttributes,
    authPolicy: at(bytes, f.authPolicy),
    schemeAlg: f.schemeAlg,
    schemeHashAlg: f.schemeHashAlg,
  };
  if (f.type === TpmAlg.RSA) {
    return {
      ...common,
      type: 'rsa',
      rsa: { keyBits: f.rsaKeyBits, exponent: f.rsaExponent === 0 ? DEFAULT_RSA_EXPONENT : f.rsaExponent, modulus: at(bytes, f.first) },
    };
  }
  return { ...common, type: 'ecc', ecc: { curveId: f.eccCurve, x: at(bytes, f.first), y: at(bytes, f.second) } };
}
