/**
 * Python values as the restricted pickle reader (src/io/pickle.ts) gives them back, and its error:
 * None -> null, int -> number (bigint beyond 2^53), float -> number, str -> string,
 * bytes -> Uint8Array, tuple -> PyTuple (a frozen array), list -> array, dict -> Map; an allowed
 * global is a PyCallable (what REDUCE may call). src/io/pickle.ts re-exports all but `tuple`.
 */
import { VembedError } from '../util/errors';

export class PickleError extends VembedError {
  override name = 'PickleError';
}

/** A Python tuple (frozen, so that it can be told apart from a list). */
export type PyTuple = readonly PyValue[] & { readonly __tuple: true };
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | Map<PyValue, PyValue>
  | PyCallable
  | object;

/** What an allowed global resolves to: something REDUCE may call with the arguments tuple. */
export interface PyCallable {
  readonly pyName: string;
  call(args: readonly PyValue[]): PyValue;
}

export const isTuple = (v: unknown): v is PyTuple => Array.isArray(v) && (v as { __tuple?: boolean }).__tuple === true;
/** Freezes `items` into a PyTuple (in place). */
export const tuple = (items: PyValue[]): PyTuple => Object.freeze(Object.assign(items, { __tuple: true as const }));

/** A PyCallable with a name. */
export function pyCallable(pyName: string, call: (args: readonly PyValue[]) => PyValue): PyCallable {
  return { pyName, call };
}
