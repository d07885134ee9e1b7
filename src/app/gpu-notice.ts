/**
 * The notice shown when the browser gave WebGPU a software fallback adapter (SwiftShader): what
 * it means for training and how to get the GPU used (text in src/gpu/fallback.ts). Shown before
 * any training, in the Model section and next to the Train button (index.html #model-fallback,
 * #train-fallback); hidden on a real GPU.
 */
import { BROWSER_FALLBACK_HELP } from '../gpu/fallback';
import { $, h, show } from './ui';

export function showFallbackNotice(ids: string[], isFallback: boolean): void {
  const help = BROWSER_FALLBACK_HELP;
  for (const id of ids) {
    const el = $(id);
    el.replaceChildren();
    if (isFallback) {
      el.append(h('b', {}, help.title), ' ', help.body, h('ul', {}, ...help.steps.map((s) => h('li', {}, s))));
    }
    show(el, isFallback);
  }
}
