/**
 * Path confinement (browser-safe, no Node APIs). A path read from a data file (a JSONL record, an
 * Ebay_*.txt line, a sharded model's weight_map) is relative to a root folder and must stay
 * inside it: an absolute path, or one whose ".." segments climb above the root, is refused unless
 * the user allowed it explicitly (config `allow_absolute_paths: true`, CLI `--allow_absolute_paths`).
 *
 *   pathEscape(p)           'absolute' | 'parent' (leaves the root through "..") | null (inside)
 *   outsideRootProblem(...) the sentence an error uses, or null when the path is fine
 *   plainRelativePath(p)    true for a plain name inside a folder ('a/b.png'): no '', '.', '..'
 *                           segments, no '\', no control characters (weight_map shards, hub files)
 */

/** True for '/x', '\\x' and 'C:\x' / 'C:/x'. */
export function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(p);
}

/** How `p` (relative to some root) leaves that root, or null when it stays inside. */
export function pathEscape(p: string): 'absolute' | 'parent' | null {
  if (isAbsolutePath(p)) return 'absolute';
  let depth = 0;
  for (const s of p.replace(/\\/g, '/').split('/')) {
    if (s === '' || s === '.') continue;
    depth += s === '..' ? -1 : 1;
    if (depth < 0) return 'parent';
  }
  return null;
}

/**
 * Null when `p` may be used under `root`; else why not, e.g.
 * `"/etc/x.jpg" is an absolute path; image paths must stay inside image_root (imgs) unless
 * allow_absolute_paths: true`. `rootName` says what the root is ("image_root (imgs)").
 */
export function outsideRootProblem(
  p: string,
  rootName: string,
  allowOutside: boolean,
  option = 'allow_absolute_paths: true',
): string | null {
  if (allowOutside) return null;
  const how = pathEscape(p);
  if (!how) return null;
  return how === 'absolute'
    ? `${JSON.stringify(p)} is an absolute path; paths must stay inside ${rootName} unless ${option}`
    : `${JSON.stringify(p)} leads out of ${rootName} with ".."; paths must stay inside it unless ${option}`;
}

/** True for a plain relative file name inside a folder (see the header). */
export function plainRelativePath(p: string): boolean {
  return (
    typeof p === 'string' &&
    p.length > 0 &&
    p.length <= 255 &&
    !p.includes('\\') &&
    // eslint-disable-next-line no-control-regex -- control characters are exactly what a plain name may not hold
    !/[\x00-\x1f]/.test(p) &&
    p.split('/').every((s) => s !== '' && s !== '.' && s !== '..')
  );
}
