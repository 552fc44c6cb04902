export { ConfigfsTsmProvider, DEFAULT_TSM_ROOT, nodeTsmFs, type ConfigfsTsmOptions, type TsmFs } from './configfs-tsm.js';
export { SimulatedTeeProvider, SIMULATED_TEE_SEED, type SimulatedTeeOptions, type SimulatedTeeState } from './simulated.js';
export { REPORT_DATA_SIZE, type EvidenceProvider, type TeeEvidence } from './types.js';
