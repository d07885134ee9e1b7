/** Types of what eslint.config.js exports, for tests/lint.test.ts (the config itself is plain JS). */
import type { Linter } from 'eslint';

/** src/<folder> -> the src/ folders it may import from (its own folder always). */
export declare const LAYERS: Record<string, string[]>;
/** Imports allowed for their types only. */
export declare const TYPE_ONLY: Record<string, string[]>;
export declare function layerRule(folder: string): Linter.RuleEntry;
declare const config: Linter.Config[];
export default config;
