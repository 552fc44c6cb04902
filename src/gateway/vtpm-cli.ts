/**
 * `tee-gateway serve` flags of the vTPM path (cli.ts calls withVtpm):
 *
 *   --simulated-vtpm [--simulated-vtpm-reference FILE]   a simulated vTPM over the chosen TEE
 *                                                         (writes the reference list of its image to FILE)
 *   --vtpm [--tcti TCTI] [--vtpm-ak HANDLE] [--vtpm-pcrs SEL]   the CVM's vTPM through tpm2-tools
 */
import { writeFileSync } from 'node:fs';

import type { EvidenceProvider } from '../tee/types.js';
import { SimulatedVtpmProvider } from '../tee/simulated-vtpm.js';
import { Tpm2ToolsVtpmProvider } from '../tee/tpm2-tools-vtpm.js';

export const VTPM_SERVE_OPTIONS = {
  'simulated-vtpm': { type: 'boolean' },
  'simulated-vtpm-reference': { type: 'string' },
  vtpm: { type: 'boolean' },
  tcti: { type: 'string' },
  'vtpm-ak': { type: 'string' },
  'vtpm-pcrs': { type: 'string' },
} as const;

export const VTPM_USAGE = `                    [--simulated-vtpm [--simulated-vtpm-reference FILE] | --vtpm [--tcti TCTI] [--vtpm-ak HANDLE] [--vtpm-pcrs sha256:0,...,23]]
`;

/** The hardware provider, or a vTPM provider around it when a vTPM flag is given. */
export function withVtpm(hardware: EvidenceProvider, v: Record<string, unknown>, stderr: (text: string) => void): EvidenceProvider {
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  if (v['simulated-vtpm'] && v['vtpm']) throw new Error('give --simulated-vtpm or --vtpm, not both');
  if (!v['vtpm'] && (str('tcti') || str('vtpm-ak') || str('vtpm-pcrs'))) throw new Error('--tcti, --vtpm-ak and --vtpm-pcrs go with --vtpm');
  if (!v['simulated-vtpm'] && str('simulated-vtpm-reference')) throw new Error('--simulated-vtpm-reference goes with --simulated-vtpm');
  if (v['simulated-vtpm']) {
    const p = new SimulatedVtpmProvider({ hardware });
    const out = str('simulated-vtpm-reference');
    if (out) {
      writeFileSync(out, `${JSON.stringify(p.referenceList(), null, 2)}\n`);
      stderr(`tee-gateway: the simulated vTPM image's reference list written to ${out}\n`);
    }
    stderr('tee-gateway: WARNING: simulated vTPM: generated boot log and IMA list, a software attestation key\n');
    return p;
  }
  if (v['vtpm']) {
    const tcti = str('tcti');
    const ak = str('vtpm-ak');
    const pcrs = str('vtpm-pcrs');
    return new Tpm2ToolsVtpmProvider({ hardware, ...(tcti ? { tcti } : {}), ...(ak ? { ak } : {}), ...(pcrs ? { pcrs } : {}) });
  }
  return hardware;
}
