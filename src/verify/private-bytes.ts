/**
 * T49: the verifiers work on a private copy of the evidence bytes. A caller's
 * Uint8Array can lie about its storage (a subclass, or an own property,
 * overriding `buffer`, `byteOffset`, `length` or `subarray`): the native
 * framing and the signature would read the real storage while field views
 * built through those getters read something else. The copy is taken through
 * the Uint8Array constructor, which reads the source's internal slots, never
 * its getters; from then on framing, fields and the signed span all read the
 * same memory, which no one outside the verifier holds.
 */
import { isSharedArrayBuffer } from 'node:util/types';

import { InvalidArgumentError } from '../errors.js';

/** %TypedArray%.prototype[@@toStringTag]: reads the internal [[TypedArrayName]] slot, never an own property. */
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, Symbol.toStringTag)!.get! as (this: unknown) => string | undefined;

/** %TypedArray%.prototype.buffer's getter: the internal slot, never an own property. */
const typedArrayBuffer = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'buffer')!.get! as (this: unknown) => ArrayBufferLike;

/**
 * A private copy of `value` if it is a Uint8Array whose memory no other thread can write (not a
 * view of a SharedArrayBuffer), read through its internal slots; otherwise undefined.
 */
export function unsharedCopy(value: unknown): Uint8Array | undefined {
  if (typedArrayName.call(value) !== 'Uint8Array') return undefined;
  const buffer = typedArrayBuffer.call(value);
  if (isSharedArrayBuffer(buffer)) return undefined;
  try {
    return new Uint8Array(value as Uint8Array);
  } catch {
    return undefined; // detached
  }
}

/** A fresh Uint8Array with the bytes `value` really holds; ARGUMENT if it is not a (live) Uint8Array. */
export function privateCopy(value: unknown, what: string): Uint8Array {
  if (typedArrayName.call(value) !== 'Uint8Array') {
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${what} must be a Uint8Array (parseEvidence)`);
  }
  try {
    return new Uint8Array(value as Uint8Array);
  } catch {
    // A detached buffer: the construction throws a plain TypeError.
    throw new InvalidArgumentError('ERR_INVALID_ARGUMENT', `${what} is a Uint8Array whose buffer was detached`);
  }
}
