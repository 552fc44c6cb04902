/**
 * The broker fields encrypt writes into encryption-config.json. The upstream
 * hf_loader POSTs to `kbs_url` exactly as written and never sends `key_id`
 * (protocols.md §1.1 step 5, §2.2, §10.3), so with a key id the URL written is
 * the full transfer URL `<base>/kbs/v1/keys/<id>/transfer`; `key_id` repeats
 * the id for our own loader (src/model/trusted-broker.ts reads both forms).
 */
import { brokerRefOf } from '../kbs-client/broker-ref.js';
import { transferUrlOf } from '../kbs-client/index.js';
import { KeyBrokerClientError } from './errors.js';

export interface ConfigBrokerFields {
  kbs_url: string;
  key_id: string;
  /** Why the upstream loader could not use what was written (empty when it can). */
  warnings: string[];
}

/**
 * `kbsUrl` may be a base URL or already a transfer URL (used verbatim, never
 * given a second path). ERR_KBS_ARGUMENT: not a URL, a fragment, a key id
 * "." or "..", a base ending in part of the key route (transferUrlOf), or a
 * standard transfer URL naming another key than `keyId`.
 */
export function configBrokerFields(kbsUrl: string | undefined, keyId: string | undefined): ConfigBrokerFields {
  const id = keyId ?? '';
  // "." and ".." would become dot segments of the transfer URL (transferUrlOf); refused in every form.
  if (id === '.' || id === '..') throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `key id ${JSON.stringify(id)} is a path dot segment, not a key id`, { details: { keyId: id } });
  if (kbsUrl === undefined || kbsUrl === '') return { kbs_url: '', key_id: id, warnings: [] };
  const ref = brokerRefOf(kbsUrl);
  // A fragment is never sent; written into kbs_url it would only travel with the file.
  if (new URL(kbsUrl).href.includes('#')) throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `a key broker URL must not carry a fragment: ${kbsUrl}`);
  if (ref.isTransferUrl) {
    if (ref.keyId !== undefined && id !== '' && ref.keyId !== id) {
      throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `the broker URL names key ${ref.keyId}, the key id given is ${id}`, { details: { url: ref.keyId, keyId: id } });
    }
    return { kbs_url: kbsUrl, key_id: id !== '' ? id : (ref.keyId ?? ''), warnings: [] };
  }
  if (id === '') {
    return {
      kbs_url: kbsUrl,
      key_id: '',
      warnings: [`kbs_url ${kbsUrl} is a base URL without a key id: the upstream hf_loader POSTs to kbs_url as written and cannot fetch a key from it; give --key-id (or a full transfer URL)`],
    };
  }
  return { kbs_url: transferUrlOf(kbsUrl, id).toString(), key_id: id, warnings: [] };
}
