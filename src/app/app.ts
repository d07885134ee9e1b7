/**
 * The page's shared state and its link to the engine worker (src/worker/engine.ts). Sections
 * (./data.ts, ./model.ts, ...) read and patch the state; every patch re-runs the sections'
 * `update` functions, which only enable/disable controls and set short texts.
 */
import * as Comlink from 'comlink';
import type { Engine } from '../worker/engine';
import type { DatasetInfo, ModelInfo, SessionInfo } from '../worker/protocol';

export type Remote = Comlink.Remote<Engine>;

export type TrainState = 'idle' | 'starting' | 'running' | 'pausing' | 'paused' | 'stopping';

export interface AppState {
  dataset: DatasetInfo | null;
  /** How to reopen the dataset after a reload. */
  datasetSession: SessionInfo['dataset'] | null;
  model: ModelInfo | null;
  modelSession: SessionInfo['model'] | null;
  configOk: boolean;
  /** OPFS run folder of the config's output_dir. */
  configRun: string | null;
  train: TrainState;
  /** The run whose checkpoints Evaluate, Search and Export use. */
  activeRun: string | null;
  /** A one-at-a-time operation in progress (its label), other than training. */
  busy: string | null;
}

export class App {
  state: AppState = {
    dataset: null,
    datasetSession: null,
    model: null,
    modelSession: null,
    configOk: false,
    configRun: null,
    train: 'idle',
    activeRun: null,
    busy: null,
  };
  private listeners: ((s: AppState) => void)[] = [];

  constructor(readonly engine: Remote) {}

  set(patch: Partial<AppState>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l(this.state);
  }

  onChange(fn: (s: AppState) => void): void {
    this.listeners.push(fn);
    fn(this.state);
  }

  /** Runs `fn` as the busy operation `label` (controls that need the engine are disabled meanwhile). */
  async busyWith<T>(label: string, fn: () => Promise<T>): Promise<T> {
    this.set({ busy: label });
    try {
      return await fn();
    } finally {
      this.set({ busy: null });
    }
  }

  get trainingActive(): boolean {
    return this.state.train !== 'idle';
  }
}

/** The engine worker (a module worker; Vite bundles it and its imports as a separate chunk). */
export function startEngine(): { engine: Remote; worker: Worker } {
  const worker = new Worker(new URL('../worker/engine.ts', import.meta.url), { type: 'module', name: 'vembed-engine' });
  return { engine: Comlink.wrap<Engine>(worker), worker };
}

export const proxy = Comlink.proxy;
