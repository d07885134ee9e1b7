/**
 * The Node folder FileSource lives in src/io/file-source-node.ts (src/hub uses it too); this
 * re-export keeps the existing importers (CLI, tests, bench) working. New code imports src/io.
 */
export { dirSource } from '../io/file-source-node';
