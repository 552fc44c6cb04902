/** Shared fixtures for the test-PKI, builder and CLI tests. */
import { X509Certificate } from 'node:crypto';


interface Tlv {
  tag: number;
  content: Uint8Array;
  size: number;
}

/** A minimal DER TLV reader for looking inside what the builders wrote. */
export function readElement(bytes: Uint8Array, offset: number): Tlv {
  const tag = bytes[offset] ?? 0;
  const first = bytes[offset + 1] ?? 0;
  let length = first;
  let header = 2;
  if (first & 0x80) {
    length = 0;
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + (bytes[offset + 2 + i] ?? 0);
    header += first & 0x7f;
  }
  if (offset + header + length > bytes.length) throw new RangeError('TLV runs past the end');
  return { tag, content: bytes.subarray(offset + header, offset + header + length), size: header + length };
}

export const VALIDITY = {
  notBefore: new Date('2025-01-01T00:00:00Z'),
  notAfter: new Date('2035-01-01T00:00:00Z'),
};

export const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The TBSCertificate bytes (everything the signature covers). */
export function tbsOf(der: Uint8Array): Uint8Array {
  const outer = readElement(der, 0);
  const tbs = readElement(outer.content, 0);
  return outer.content.subarray(0, tbs.size);
}

/** Children of a constructed DER value. */
export function children(content: Uint8Array): { tag: number; content: Uint8Array }[] {
  const out: { tag: number; content: Uint8Array }[] = [];
  for (let at = 0; at < content.length; ) {
    const el = readElement(content, at);
    out.push({ tag: el.tag, content: el.content });
    at += el.size;
  }
  return out;
}

export function verifiesWith(childDer: Uint8Array, issuerDer: Uint8Array): boolean {
  return new X509Certificate(childDer).verify(new X509Certificate(issuerDer).publicKey);
}
