/**
 * What to tell a user whose WebGPU adapter is a software fallback (SwiftShader: the GPU work runs
 * on the CPU, training is very slow), and how to get the GPU used instead. Pure text, shared by
 * the app (a notice near the Train button and under the Model section, src/app/train.ts and
 * src/app/model.ts) and the command line (stderr, once, src/gpu/device-node.ts).
 */

/** The browser: the page got a fallback adapter from `navigator.gpu`. */
export const BROWSER_FALLBACK_HELP = {
  title: 'No GPU: this browser gave WebGPU a software adapter (SwiftShader), which runs on the CPU.',
  body: 'Training works, but very slowly (hours where a GPU takes minutes). To use your GPU:',
  steps: [
    'Any OS: turn on hardware acceleration (Chrome/Edge: Settings → System → "Use graphics acceleration when available"), restart the browser, and keep the GPU driver up to date.',
    'Linux: Chrome draws WebGPU through Vulkan, which is off by default: start it with --enable-unsafe-webgpu --enable-features=Vulkan (or set "Vulkan" and "Unsafe WebGPU Support" to Enabled in chrome://flags), and add --ignore-gpu-blocklist if your GPU is blocklisted.',
    'Check chrome://gpu: under "Graphics Feature Status", WebGPU should say "Hardware accelerated", and the adapter should name your GPU, not SwiftShader. Then reload this page.',
  ],
};

/** Node (the `vembed` command line): Dawn found no GPU through Vulkan / Metal / D3D12. */
export const NODE_FALLBACK_HELP = [
  'To use the GPU instead: Dawn looks for it through Vulkan on Linux (Metal on macOS, D3D12 on Windows).',
  "Linux: install the Vulkan loader and your GPU's Vulkan driver (Debian/Ubuntu: libvulkan1, plus mesa-vulkan-drivers for AMD/Intel, or the NVIDIA driver, which ships nvidia_icd.json) and check with `vulkaninfo --summary`.",
  "In a container, expose the GPU with its graphics capability (NVIDIA: --gpus all and NVIDIA_DRIVER_CAPABILITIES=all); if the driver's ICD file is in an unusual place, point VK_DRIVER_FILES at it (e.g. /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json).",
];
