/**
 * s13 parity #3 (low): the gateway client's GatewayVerification.debug read TDATTRIBUTES bit 0 only
 * (claims.debug), while the policy check (T34), the EAR and the key broker treat any TUD bit
 * (bits 7:1) as debug too (policy/td-debug.ts, the one helper). Under a policy with allowDebug, a TD
 * with bit 1 set passed with the T34 warning "debug TD accepted", yet debug was false and
 * `tee-verify chat` printed "TEE: tdx" without "(DEBUG)". Now the client uses tdUnderDebug for TDX.
 */
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { bindingReportData, spkiSha256 } from '../../src/gateway/binding.js';
import { describeVerification } from '../../src/gateway/chat-cli.js';
import { verifyBoundEvidence } from '../../src/gateway/verify.js';
import { defaultPolicy, loadPolicy } from '../../src/index.js';
import { collateralOf, makePlatform, mrTdHex, quoteFor } from '../kbs/helpers.js';

const platform = makePlatform();

async function verifiedWith(tdAttributes: bigint): Promise<Awaited<ReturnType<typeof verifyBoundEvidence>>> {
  const certDer = platform.pki.pck.der;
  const nonce = randomBytes(32);
  const quote = quoteFor(platform, bindingReportData(nonce, spkiSha256(certDer)), { tdAttributes });
  const doc = { ...JSON.parse(JSON.stringify(defaultPolicy('tdx'))), mrTd: [mrTdHex(platform)], allowDebug: true };
  delete doc.id;
  return verifyBoundEvidence({ evidence: new Uint8Array(quote) }, nonce, certDer, { policy: loadPolicy(doc), collateral: collateralOf(platform), trustRoots: platform.trustRoots, at: platform.at });
}

describe('s13 parity #3: the gateway client reports a TD with a TUD bit as debug', () => {
  for (const [name, attrs] of [['TUD bit 1', 0x0000000010000002n], ['TUD bit 7', 0x0000000010000080n], ['DEBUG bit 0', 0x0000000010000001n]] as const) {
    it(`${name} (TDATTRIBUTES 0x${attrs.toString(16).padStart(16, '0')}): debug true, chat prints (DEBUG)`, async () => {
      const v = await verifiedWith(attrs);
      expect(v.warnings.some((w) => w.startsWith('T34'))).toBe(true); // the policy accepted it as a debug TD
      expect(v.debug).toBe(true);
      expect(describeVerification(v)[0]).toBe('TEE: tdx (DEBUG)');
    });
  }

  it('no bit of 7:0 set (SEPT_VE_DISABLE only): not debug', async () => {
    const v = await verifiedWith(0x0000000010000000n);
    expect(v.debug).toBe(false);
    expect(describeVerification(v)[0]).toBe('TEE: tdx');
  });
});
