/**
 * App entry (the page only shows and controls; heavy work will run in Web Workers).
 * For now: finds the WebGPU adapter and shows what it is, or says clearly what is missing.
 */
import { requestBrowserGpu } from '../gpu/browser';

const status = document.getElementById('gpu-status')!;
requestBrowserGpu()
  .then((gpu) => {
    const r = gpu.report;
    status.textContent =
      `WebGPU adapter: ${gpu.describe()}. Features: ${r.features.join(', ') || 'none'}. ` +
      `Max storage binding: ${(r.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB.`;
  })
  .catch((e: Error) => {
    status.textContent = e.message;
    status.setAttribute('data-error', 'no-webgpu');
  });
