/**
 * Certificate-table artifacts memoised by content: the same bytes in a new
 * buffer get the remembered artifact; one changed byte, another product or
 * key kind, a caller changing its buffer afterwards, or a handed-out body
 * changed in place never gets a stale one. Failures are not remembered.
 */
import { describe, expect, it } from 'vitest';

import { tableChainArtifact, tableLeafArtifact } from '../../src/collateral/cert-table-artifacts.js';
import { parseSnpCertificateTable } from '../../src/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { flipByte } from '../helpers/bytes.js';

const tee = new SimulatedTeeProvider({ tee: 'snp', at: new Date('2026-06-01T12:00:00Z') });
const table = parseSnpCertificateTable((await tee.getEvidence(new Uint8Array(64))).auxblob!);
const der = (kind: string) => new Uint8Array(table.find((e) => e.kind === kind)!.der);
/** A copy with one byte flipped near the end (inside the signature: still a well-formed certificate). */
const flipped = (bytes: Uint8Array, fromEnd = 3) => {
  const copy = new Uint8Array(bytes);
  copy[copy.length - fromEnd] = (copy[copy.length - fromEnd] ?? 0) ^ 1;
  return copy;
};

describe('tableLeafArtifact', () => {
  it('the same bytes in a new buffer give the remembered artifact, frozen, with a body of its own', () => {
    const vcek = der('vcek');
    const a = tableLeafArtifact('Milan', 'vcek', vcek);
    expect(tableLeafArtifact('Milan', 'vcek', new Uint8Array(vcek))).toBe(a);
    expect(a.kind).toBe('amd-vcek');
    expect(a.source.origin).toBe('evidence');
    expect(Buffer.from(a.body).equals(vcek)).toBe(true);
    expect(a.body.buffer).not.toBe(vcek.buffer);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('one changed byte is not served from the memo (new artifact, new key)', () => {
    const vcek = der('vcek');
    const a = tableLeafArtifact('Milan', 'vcek', vcek);
    const other = flipped(vcek);
    const b = tableLeafArtifact('Milan', 'vcek', other);
    expect(b).not.toBe(a);
    expect(b.key).not.toBe(a.key);
    expect(Buffer.from(b.body).equals(other)).toBe(true);
    expect(tableLeafArtifact('Milan', 'vcek', vcek)).toBe(a);
  });

  it('product and key kind are part of the match', () => {
    const vcek = der('vcek');
    const milan = tableLeafArtifact('Milan', 'vcek', vcek);
    const genoa = tableLeafArtifact('Genoa', 'vcek', vcek);
    const vlek = tableLeafArtifact('Milan', 'vlek', vcek);
    expect(genoa).not.toBe(milan);
    expect(genoa.key).toContain('/Genoa/');
    expect(vlek.kind).toBe('amd-vlek');
  });

  it('keeps no caller buffer: changing it afterwards changes neither the artifact nor what the old bytes get', () => {
    const original = der('vcek');
    const mine = new Uint8Array(original);
    const a = tableLeafArtifact('Turin', 'vcek', mine);
    flipByte(mine, mine.length - 3);
    expect(Buffer.from(a.body).equals(original)).toBe(true);
    expect(tableLeafArtifact('Turin', 'vcek', original)).toBe(a);
    expect(tableLeafArtifact('Turin', 'vcek', mine)).not.toBe(a);
  });

  it('a handed-out body changed in place is not served again', () => {
    const vcek = der('vcek');
    const a = tableLeafArtifact('Genoa', 'vlek', vcek);
    flipByte(a.body, a.body.length - 3);
    const b = tableLeafArtifact('Genoa', 'vlek', vcek);
    expect(b).not.toBe(a);
    expect(Buffer.from(b.body).equals(vcek)).toBe(true);
  });

  it('bytes that are not a certificate fail every time (failures are not remembered)', () => {
    const junk = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]);
    for (let i = 0; i < 2; i++) expect(() => tableLeafArtifact('Milan', 'vcek', junk)).toThrow(expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT' }));
  });
});

describe('tableChainArtifact', () => {
  it('the same ASK and ARK give the remembered PEM chain; one changed byte of either does not', () => {
    const ask = der('ask');
    const ark = der('ark');
    const a = tableChainArtifact('Milan', 'vcek', ask, ark);
    expect(tableChainArtifact('Milan', 'vcek', new Uint8Array(ask), new Uint8Array(ark))).toBe(a);
    expect(Buffer.from(a.body).toString('latin1')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    const otherArk = tableChainArtifact('Milan', 'vcek', ask, flipped(ark));
    const otherAsk = tableChainArtifact('Milan', 'vcek', flipped(ask), ark);
    expect(otherArk).not.toBe(a);
    expect(otherAsk).not.toBe(a);
    expect(otherArk.body).not.toEqual(a.body);
    expect(otherAsk.body).not.toEqual(a.body);
    expect(tableChainArtifact('Milan', 'vlek', ask, ark)).not.toBe(a);
  });
});
