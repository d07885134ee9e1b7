/**
 * How an error reaches the page: comlink passes an Error's message, not its class or fields, so a
 * ConfigError's problems are put into the message ("config: a; b").
 */
import { ConfigError } from '../config';

/** An Error a page can show: the message, with the error's kind when it helps. */
export function userError(e: unknown): Error {
  if (e instanceof ConfigError) return new Error(`config: ${e.problems.join('; ')}`);
  if (e instanceof Error) return e;
  return new Error(String(e));
}
