/** Types of what eslint.config.js exports, for tests/lint.test.ts (the config itself is plain JS). */
import type { Linter } from 'eslint';

/** src/<folder> -> the src/ folders it may import from (its own folder always). */
export declare const LAYERS: Record<string, string[]>;
/** Imports allowed for their types only. */
export declare const TYPE_ONLY: Record<string, string[]>;
/** Library entry files at the top of src/ (`index`, `index-node`) -> folders they must not import. */
export declare const ENTRIES: Record<'index' | 'index-node', string[]>;
/** Longest file of src/, in lines. */
export declare const MAX_LINES: number;
export declare function layerRule(folder: string): Linter.RuleEntry;
declare const config: Linter.Config[];
export default config;
