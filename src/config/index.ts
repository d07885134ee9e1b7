/** Training config: schema (./schema), YAML parsing and overrides (./parse, over ./pyyaml and
 *  ./values), LoRA targets (./lora). Browser-safe; ./file-node.ts adds reading a file path. */
export * from './schema';
export * from './parse';
export * from './lora';
export { didYouMean, editDistance } from '../util/suggest';
export { FOREIGN_KEYS, KEY_ALIASES, REFUSED_VALUES, VALUE_ALIASES } from './compat';
