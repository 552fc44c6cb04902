/**
 * The key broker a loader asks comes from the TEE's own, measured
 * configuration (command line / environment), never from the model directory:
 * encryption-config.json is written by whoever hands us the directory — the
 * host. A host that could choose the broker would encrypt its own model under
 * its own key, run a "broker" that wraps that key to any RSA key it is sent,
 * and have the TEE load and serve its model. So the directory may only repeat
 * the trusted broker (or name none), and with a pinned key id it may only
 * repeat that too: the same owner's broker also holds older models.
 */
import { brokerRefOf, type BrokerRef } from '../kbs-client/broker-ref.js';
import type { EncryptionConfig } from './directory.js';
import { KeyBrokerClientError, ModelFormatError } from './errors.js';

export interface TrustedBrokerConfig {
  /** Broker URL from the TEE's configuration: a base URL or a full transfer URL. */
  url: string;
  /** Pinned key id from the TEE's configuration. */
  keyId?: string;
}

export interface ResolvedBroker {
  /** What to pass to requestKey: the trusted URL and the key id to ask for. */
  url: string;
  keyId?: string;
  /** Relaxations in effect (a key id taken from the directory). */
  warnings: string[];
}

// Key ids from the directory are host-written and reach stderr: quoted with JSON.stringify, so a newline or
// escape sequence in one shows as \n / \u001b instead of forging a line (review s7).

function directoryRef(config: EncryptionConfig): BrokerRef | undefined {
  if (config.kbs_url === '') return undefined;
  try {
    return brokerRefOf(config.kbs_url);
  } catch (cause) {
    throw new ModelFormatError('ERR_MODEL_CONFIG', `encryption-config.json: kbs_url is not a usable URL: ${JSON.stringify(config.kbs_url)}`, { cause });
  }
}

/**
 * Checks the directory's broker and key id against the trusted ones and
 * returns what to ask for. ERR_MODEL_KBS_MISMATCH: the directory names another
 * broker; ERR_MODEL_KEY_ID_MISMATCH: it names another key than the pinned one
 * (or two different keys itself).
 */
export function resolveTrustedBroker(trusted: TrustedBrokerConfig, config: EncryptionConfig | undefined): ResolvedBroker {
  const own = brokerRefOf(trusted.url);
  if (trusted.keyId !== undefined && own.keyId !== undefined && trusted.keyId !== own.keyId) {
    throw new KeyBrokerClientError('ERR_KBS_ARGUMENT', `the broker URL names key ${own.keyId}, the key id given is ${trusted.keyId}`);
  }
  const pinned = trusted.keyId ?? own.keyId;
  const theirs = config ? directoryRef(config) : undefined;
  if (theirs && theirs.base !== own.base) {
    throw new ModelFormatError('ERR_MODEL_KBS_MISMATCH', `the model directory names the key broker ${theirs.base}, this TEE is configured for ${own.base}`, {
      details: { directory: theirs.base, trusted: own.base },
    });
  }
  const named = new Set([config?.key_id, theirs?.keyId].filter((k): k is string => k !== undefined && k !== ''));
  if (pinned !== undefined) {
    for (const k of named) {
      if (k !== pinned) {
        throw new ModelFormatError('ERR_MODEL_KEY_ID_MISMATCH', `the model directory names key ${JSON.stringify(k)}, this TEE is pinned to key ${JSON.stringify(pinned)}`, { details: { directory: k, trusted: pinned } });
      }
    }
    return { url: trusted.url, keyId: pinned, warnings: [] };
  }
  // A non-standard transfer URL names its key itself: nothing to take from the directory.
  if (own.isTransferUrl) return { url: trusted.url, warnings: [] };
  if (named.size > 1) {
    throw new ModelFormatError('ERR_MODEL_KEY_ID_MISMATCH', `encryption-config.json names two keys: ${[...named].map((k) => JSON.stringify(k)).join(', ')}`, { details: { directory: [...named] } });
  }
  const [fromDirectory] = named;
  if (fromDirectory === undefined) return { url: trusted.url, warnings: [] }; // requestKey asks for a key id
  return {
    url: trusted.url,
    keyId: fromDirectory,
    warnings: [`key id ${JSON.stringify(fromDirectory)} taken from the model directory (not pinned): the host may pick any key of this broker that the TEE's policy releases; pin it with --key-id`],
  };
}
