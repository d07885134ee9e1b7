/**
 * The shapes of a dispatch, for its error messages and profile entries. An op writes them as a
 * tagged template, `dims\`x[${M},${N}] -> out[${N}]\``: that keeps the template's parts (one
 * constant array per call site) and its values, and the text is made only when an error or a
 * profile needs it. A dispatch path keeps a segment's shapes until its error scopes answer, and a
 * string built per dispatch costs more to build and to keep than the dispatch itself (bench row
 * dispatch.overhead, in a browser). A plain string is accepted too.
 */
export interface Shapes {
  readonly parts: TemplateStringsArray;
  readonly values: unknown[];
}

/** Tag: `dims\`x[${M},${N}]\`` (formatted by `shapesText`). */
export function dims(parts: TemplateStringsArray, ...values: unknown[]): Shapes {
  return { parts, values };
}

/** The text of a dispatch's shapes. */
export function shapesText(s: string | Shapes): string {
  if (typeof s === 'string') return s;
  return formatParts(s.parts, s.values, 0, s.values.length);
}

/** The text of template `parts` with `values[from..from+n)`. */
export function formatParts(parts: readonly string[], values: readonly unknown[], from: number, n: number): string {
  let out = parts[0];
  for (let i = 0; i < n; i++) out += String(values[from + i]) + parts[i + 1];
  return out;
}
