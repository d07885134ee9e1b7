/**
 * onnxruntime-web for the bench page, loaded from its prebuilt ESM bundle in node_modules by URL
 * (not through Vite's dependency optimizer, which would otherwise discover it mid-run and reload
 * the page). The WebGPU build (`ort.webgpu.min.mjs`) fetches its wasm from the same folder.
 * The bench page is cross-origin isolated (for its clock: bench/run.ts), which would allow wasm
 * threads; numThreads stays 1, as the peer has always been measured.
 */
import type * as OrtModule from 'onnxruntime-web';

export type Ort = typeof OrtModule;

const ORT_DIST = '/node_modules/onnxruntime-web/dist/';

let loaded: Promise<Ort> | null = null;

export function loadOrt(): Promise<Ort> {
  loaded ??= (async () => {
    const url = `${ORT_DIST}ort.webgpu.min.mjs`;
    const ort = (await import(/* @vite-ignore */ url)) as Ort;
    ort.env.wasm.wasmPaths = ORT_DIST;
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'warning';
    return ort;
  })();
  return loaded;
}
