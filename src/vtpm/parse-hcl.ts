/** Azure HCL report ("HCLA") from the native frame: views of the hardware report and the runtime data. */
import { native, isNativeFailure } from '../native/index.js';
import { requireBytes, view, vtpmError } from './parse-common.js';
import type { HclReport } from './types.js';

/** Fixed offsets of cpp/core/hcl_report.h. */
const HARDWARE_REPORT_OFFSET = 32;
const VARIABLE_DATA_OFFSET = 1236;
const REPORT_TYPE_TDX = 4;

export function parseHclReport(input: Uint8Array): HclReport {
  const bytes = requireBytes(input, 'HCL report');
  const f = native().parseHclReport(bytes);
  if (isNativeFailure(f)) throw vtpmError(f, 'Azure HCL report');
  return {
    bytes,
    version: f.version,
    reportType: f.reportType === REPORT_TYPE_TDX ? 'tdx' : 'snp',
    hardwareReport: view(bytes, HARDWARE_REPORT_OFFSET, f.hardwareReportSize),
    reportDataHashType: f.reportDataHashType,
    runtimeData: view(bytes, VARIABLE_DATA_OFFSET, f.variableDataSize),
    trailingZeroBytes: f.trailingSize,
  };
}
