export { ConfigfsTsmProvider, DEFAULT_TSM_ROOT, nodeTsmFs, type ConfigfsTsmOptions, type TsmFs } from './configfs-tsm.js';
export { SimulatedTeeProvider, SIMULATED_TEE_SEED, type SimulatedTeeOptions, type SimulatedTeeState } from './simulated.js';
export { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from './types.js';
export { isVtpmProvider, type VtpmEvidence, type VtpmEvidenceProvider, type VtpmRequest } from './vtpm-types.js';
export { SimulatedVtpmProvider, SIMULATED_VTPM_SEED, type SimulatedVtpmOptions } from './simulated-vtpm.js';
export { Tpm2ToolsVtpmProvider, type Tpm2ToolsVtpmOptions } from './tpm2-tools-vtpm.js';
