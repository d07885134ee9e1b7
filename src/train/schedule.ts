/**
 * Learning-rate schedules as transformers' get_scheduler (the multiplier of the base lr at a
 * 0-based optimizer step): linear warmup, then cosine / linear decay to 0, or constant.
 */
export type SchedulerType = 'cosine' | 'linear' | 'constant' | 'constant_with_warmup';

export function lrMultiplier(type: SchedulerType, step: number, warmup: number, total: number): number {
  if (type === 'constant') return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  if (type === 'constant_with_warmup') return 1;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (type === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** warmup_steps when > 0, else ceil(total * warmup_ratio) (vembed-factory's rule). */
export function warmupFor(warmupSteps: number, warmupRatio: number, total: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(total * warmupRatio);
}
