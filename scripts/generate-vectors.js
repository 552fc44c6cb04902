#!/usr/bin/env node
// Writes the package's synthetic vectors into vectors/ from the project's own
// test PKI and builders (dist/testing; run `npx tsc -p tsconfig.json` first).
// Fixed seed and dates: a rerun gives the same certificates, fields and
// manifest; only signature bytes (ECDSA nonces, PSS salts) differ.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';


const testing = await import('../dist/testing/index.js').catch((err) => {
  console.error(`cannot load dist/testing (run "npx tsc -p tsconfig.json" first): ${err.message}`);
  process.exit(1);
});
const {
  buildSgxQuote,
  buildSnpCertTable,
  buildSnpReport,
  buildTdxQuote,
  createAmdTestPki,
  createIntelTestPki,
  dnToString,
  ecPublicKeyXY,
} = testing;

const SEED = 'tee-verify synthetic vectors v1';
const VALIDITY = { notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2035-01-01T00:00:00Z') };
const VERIFICATION_TIME = '2026-06-01T00:00:00Z';
// --out <dir> writes elsewhere (tests compare two runs in temporary folders).
const outFlag = process.argv.indexOf('--out');
const OUT = outFlag > 0 && process.argv[outFlag + 1]
  ? resolve(process.argv[outFlag + 1])
  : join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors');

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const u64 = (value) => `0x${value.toString(16).padStart(16, '0')}`;
const cn = (dn) => dn.find(([type]) => type === 'CN')?.[1];

function write(name, data) {
  writeFileSync(join(OUT, name), data);
}

function certificateSummary(cert) {
  return {
    subject: dnToString(cert.subject),
    issuer: dnToString(cert.issuer),
    serial: cert.serialHex,
    not_before: cert.notBefore.toISOString(),
    not_after: cert.notAfter.toISOString(),
  };
}

function intelCommonFields(built, intel) {
  return {
    att_key_type: built.header.attestationKeyType,
    qe_vendor_id: hex(built.header.qeVendorId),
    attestation_key: hex(built.attestationKeyXY),
    qe_report_data: hex(built.qeReport.reportData),
    qe_auth_data: hex(built.qeAuthData),
    qe_report_isv_prod_id: built.qeReport.isvProdId,
    qe_report_isv_svn: built.qeReport.isvSvn,
    qe_report_mr_signer: hex(built.qeReport.mrSigner),
    cert_data_type: 5,
    pck_chain_subjects: [intel.pck, intel.pckCa, intel.root].map((c) => cn(c.subject)),
    pck_leaf_public_key: hex(ecPublicKeyXY(intel.pck.key.publicKey)),
    fmspc: hex(intel.sgx.fmspc),
    pce_id: hex(intel.sgx.pceId),
    pck_tcb: { sgx_comp_svns: [...intel.sgx.tcb.components], pcesvn: intel.sgx.tcb.pceSvn },
    trailing_bytes: built.bytes.length - built.layout.end,
    file_size: built.bytes.length,
  };
}

function tdxFields(built, intel) {
  const b = built.body;
  const fields = {
    version: built.version,
    tee_type: '0x81',
    body_type: built.bodyType,
    tee_tcb_svn: hex(b.teeTcbSvn),
    mr_seam: hex(b.mrSeam),
    mr_signer_seam: hex(b.mrSignerSeam),
    seam_attributes: u64(b.seamAttributes),
    td_attributes: u64(b.tdAttributes),
    xfam: u64(b.xfam),
    mr_td: hex(b.mrTd),
    mr_config_id: hex(b.mrConfigId),
    mr_owner: hex(b.mrOwner),
    mr_owner_config: hex(b.mrOwnerConfig),
    rtmr0: hex(b.rtmr0),
    rtmr1: hex(b.rtmr1),
    rtmr2: hex(b.rtmr2),
    rtmr3: hex(b.rtmr3),
    report_data: hex(b.reportData),
    ...intelCommonFields(built, intel),
  };
  if (built.bodyType === 3) {
    fields.tee_tcb_svn2 = hex(b.teeTcbSvn2);
    fields.mr_service_td = hex(b.mrServiceTd);
  }
  return fields;
}

function sgxFields(built, intel) {
  const b = built.body;
  return {
    version: 3,
    attributes: hex(b.attributes),
    mr_enclave: hex(b.mrEnclave),
    mr_signer: hex(b.mrSigner),
    isv_prod_id: b.isvProdId,
    isv_svn: b.isvSvn,
    report_data: hex(b.reportData),
    ...intelCommonFields(built, intel),
  };
}

function snpFields(built, amd) {
  const f = built.fields;
  return {
    version: built.version,
    product: built.product,
    cpuid: { family: f.cpuid.family, model: f.cpuid.model, stepping: f.cpuid.stepping },
    signing_key: built.signingKey.toUpperCase(),
    guest_svn: f.guestSvn,
    policy: u64(f.policy),
    platform_info: u64(f.platformInfo),
    vmpl: f.vmpl,
    report_data: hex(f.reportData),
    measurement: hex(f.measurement),
    host_data: hex(f.hostData),
    chip_id: hex(f.chipId),
    current_tcb_raw: hex(built.tcbBytes.current),
    reported_tcb_raw: hex(built.tcbBytes.reported),
    committed_tcb_raw: hex(built.tcbBytes.committed),
    launch_tcb_raw: hex(built.tcbBytes.launch),
    reported_tcb_decoded: { ...amd.tcb },
    current_version: `${f.currentVersion.major}.${f.currentVersion.minor}.${f.currentVersion.build}`,
    vcek_public_key: hex(ecPublicKeyXY(amd.vcek.key.publicKey)),
    vcek_extensions: {
      structVersion: amd.vcekKds.structVersion,
      productName: amd.vcekKds.productName,
      tcb: { ...amd.vcekKds.tcb },
      hwID: hex(amd.vcekKds.hwId ?? new Uint8Array(0)),
    },
    file_size: built.bytes.length,
  };
}

const NOTE = 'signatures-valid under the synthetic test PKI; no collateral; never trusted in production';

function intelVectors(intel) {
  const keys = { pckKey: intel.pck.key.privateKey, pckChainPem: intel.pckChainPem, seed: SEED };
  const collateral = { synthetic_root_ca: 'intel-root.pem', synthetic_tcb_signing: 'intel-tcb-signing.pem' };
  const quotes = [
    ['tdx-v4', 'tdx-quote-v4', buildTdxQuote({ ...keys, version: 4 })],
    ['tdx-v5-td10', 'tdx-quote-v5', buildTdxQuote({ ...keys, version: 5, bodyType: 2 })],
    ['tdx-v5-td15', 'tdx-quote-v5', buildTdxQuote({ ...keys, version: 5, bodyType: 3 })],
    ['sgx-v3', 'sgx-quote-v3', buildSgxQuote(keys)],
  ];
  const entries = [];
  for (const [id, kind, built] of quotes) {
    write(`${id}.bin`, built.bytes);
    const fields = kind === 'sgx-quote-v3' ? sgxFields(built, intel) : tdxFields(built, intel);
    entries.push({ id, kind, file: `${id}.bin`, file_encoding: 'binary', collateral, verification_time: VERIFICATION_TIME, expected: { outcome: NOTE, fields } });
    if (id === 'tdx-v4') {
      write('tdx-v4.hex', `${hex(built.bytes)}\n`);
      entries.push({
        id: 'tdx-v4-hex',
        kind,
        file: 'tdx-v4.hex',
        file_encoding: 'hex',
        same_bytes_as: 'tdx-v4.bin',
        collateral,
        verification_time: VERIFICATION_TIME,
        expected: { outcome: NOTE, fields },
      });
    }
  }
  write('intel-root.pem', intel.root.pem);
  write('intel-tcb-signing.pem', intel.tcbSigning.pem);
  entries.push({ id: 'intel-root', kind: 'intel-root-ca', file: 'intel-root.pem', file_encoding: 'PEM', certificate: certificateSummary(intel.root) });
  entries.push({ id: 'intel-tcb-signing', kind: 'intel-tcb-signing-cert', file: 'intel-tcb-signing.pem', file_encoding: 'PEM', certificate: certificateSummary(intel.tcbSigning) });
  return entries;
}

function snpVectors(product, version, withCertTable) {
  const amd = createAmdTestPki({ seed: SEED, product, validity: VALIDITY });
  const id = `snp-v${version}-${product.toLowerCase()}`;
  const built = buildSnpReport({ seed: SEED, version, product, signingKey: 'vcek', key: amd.vcek.key.privateKey, reportedTcb: amd.tcb, chipId: amd.chipId });
  const chainFile = `amd-${product.toLowerCase()}-cert-chain.pem`;
  write(`${id}.bin`, built.bytes);
  write(`${id}-vcek.der`, amd.vcek.der);
  write(chainFile, amd.vcekCertChainPem);
  const collateral = { vcek: `${id}-vcek.der`, ask_ark_chain: chainFile };
  const entries = [
    {
      id,
      kind: 'snp-report',
      file: `${id}.bin`,
      file_encoding: 'binary',
      collateral,
      verification_time: VERIFICATION_TIME,
      expected: { outcome: NOTE, fields: snpFields(built, amd) },
    },
    { id: `${id}-vcek`, kind: 'vcek-cert', file: `${id}-vcek.der`, file_encoding: 'DER', certificate: certificateSummary(amd.vcek) },
    { id: `amd-${product.toLowerCase()}-cert-chain`, kind: 'amd-cert-chain', file: chainFile, file_encoding: 'PEM', certificates: [certificateSummary(amd.ask), certificateSummary(amd.ark)] },
  ];
  if (withCertTable) {
    const table = buildSnpCertTable([
      { guid: 'vcek', der: amd.vcek.der },
      { guid: 'ask', der: amd.ask.der },
      { guid: 'ark', der: amd.ark.der },
    ]);
    write(`${id}-certs.bin`, table);
    entries.push({ id: `${id}-certs`, kind: 'snp-cert-table', file: `${id}-certs.bin`, file_encoding: 'binary', report: `${id}.bin`, entries: ['vcek', 'ask', 'ark'] });
  }
  return entries;
}

mkdirSync(OUT, { recursive: true });
const intel = createIntelTestPki({ seed: SEED, validity: VALIDITY });
const manifest = {
  synthetic: true,
  description: 'Synthetic evidence made by scripts/generate-vectors.js with the project\'s own test PKI (src/testing, RSA keys in test/pki). Not from Intel or AMD hardware; the synthetic roots must never be trusted in production.',
  generator: 'scripts/generate-vectors.js',
  seed: SEED,
  certificate_validity: { not_before: VALIDITY.notBefore.toISOString(), not_after: VALIDITY.notAfter.toISOString() },
  verification_time: VERIFICATION_TIME,
  entries: [...intelVectors(intel), ...snpVectors('Milan', 3, true), ...snpVectors('Turin', 5, false)],
};
write('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`wrote ${manifest.entries.length} entries to ${OUT}`);
