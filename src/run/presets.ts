/**
 * Presets the app offers: hub models and training configs (YAML with vembed-factory keys, so a
 * config pasted from vembed-factory works in the same editor). Plain data: the page imports it
 * directly.
 */
import { HUB_PRESETS } from '../hub/known-models';

export interface ConfigPreset {
  id: string;
  label: string;
  yaml: string;
}

/** The bundled demo model's id in the model cache (IndexedDB), and its model_name. */
export const DEMO_MODEL_ID = 'vembed/demo-dinov3-tiny';

export const MODEL_PRESETS: { label: string; id: string }[] = [
  { label: 'Demo model (bundled)', id: DEMO_MODEL_ID },
  ...HUB_PRESETS,
];

export const CONFIG_PRESETS: ConfigPreset[] = [
  {
    id: 'demo',
    label: 'Demo: tiny model, LoRA, 3 epochs (seconds)',
    yaml: `# Demo run: the bundled tiny DINOv3 on the bundled Fashion-MNIST products.
model_name: ${DEMO_MODEL_ID}
data_path: train.jsonl
output_dir: demo-run

epochs: 3
batch_size: 16
learning_rate: 1.0e-3
scheduler_type: cosine
warmup_ratio: 0.1
seed: 42

loss_type: infonce
temperature: 0.05

use_lora: true
lora_r: 8
lora_alpha: 16
lora_dropout: 0.0
lora_target_modules: all-linear

use_gradient_cache: false
logging_steps: 1
save_steps: 10
`,
  },
  {
    id: 'lora',
    label: 'LoRA on DINOv3/DINOv2 (vembed-factory defaults)',
    yaml: `# LoRA fine-tuning with vembed-factory's keys and defaults.
model_name: facebook/dinov3-vits16-pretrain-lvd1689m
data_path: train.jsonl
val_data_path: null
output_dir: dinov3-lora

epochs: 3
batch_size: 32
learning_rate: 1.0e-4
weight_decay: 0.01
max_grad_norm: 1.0
scheduler_type: cosine
warmup_ratio: 0.1
seed: 42

loss_type: infonce
temperature: 0.05

use_lora: true
lora_r: 16
lora_alpha: 32
lora_dropout: 0.05
lora_target_modules: [q_proj, v_proj]

use_gradient_cache: true
gradient_cache_chunk_size: 8
logging_steps: 10
save_steps: 100
`,
  },
  {
    id: 'full',
    label: 'Full fine-tuning (all weights)',
    yaml: `# Full fine-tuning: every weight trains; export gives a merged model only.
model_name: facebook/dinov2-small
data_path: train.jsonl
output_dir: full-finetune

epochs: 3
batch_size: 32
learning_rate: 2.0e-5
weight_decay: 0.01
scheduler_type: cosine
warmup_ratio: 0.1
seed: 42

loss_type: infonce
temperature: 0.05
use_lora: false

use_gradient_cache: true
gradient_cache_chunk_size: 8
logging_steps: 10
save_steps: 200
`,
  },
];

/** Sets `key: value` in YAML text: replaces the top-level line of that key, or appends one. */
export function setYamlKey(yaml: string, key: string, value: string): string {
  const re = new RegExp(`^${key}[ \\t]*:.*$`, 'm');
  const line = `${key}: ${value}`;
  if (re.test(yaml)) return yaml.replace(re, line);
  return `${yaml.replace(/\s*$/, '')}\n${line}\n`;
}

/** A YAML scalar for a path or id: plain when safe, else double-quoted. */
export function yamlString(s: string | null): string {
  if (s === null) return 'null';
  return /^[A-Za-z0-9_./-]+$/.test(s) && !/^(null|true|false|yes|no|on|off|~)$/i.test(s) ? s : JSON.stringify(s);
}
