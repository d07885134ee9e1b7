/**
 * Config section: a YAML editor (textarea with a line-number gutter) prefilled from a preset and
 * checked by the engine as the user types; problems are listed with their line and marked in the
 * gutter, and clicking one puts the cursor on that line.
 */
import { CONFIG_PRESETS, setYamlKey, yamlString } from '../run/presets';
import type { ConfigCheck } from '../worker/protocol';
import type { App } from './app';
import { $, h } from './ui';

export interface ConfigSection {
  text(): string;
  setText(yaml: string): void;
  /** Sets a top-level key in the editor (e.g. model_name after a model is loaded). */
  setKey(key: string, value: string | null): void;
}

const CHECK_DELAY_MS = 150;

export function setupConfig(app: App): ConfigSection {
  const preset = $<HTMLSelectElement>('config-preset');
  const apply = $<HTMLButtonElement>('config-apply');
  const area = $<HTMLTextAreaElement>('config-text');
  const gutter = $('config-gutter');
  const status = $('config-status');
  const list = $('config-problems');
  let timer: ReturnType<typeof setTimeout> | undefined;
  let seq = 0;
  let badLines = new Set<number>();

  for (const p of CONFIG_PRESETS) preset.append(h('option', { value: p.id }, p.label));

  function renderGutter(): void {
    const n = area.value.split('\n').length;
    const frag = document.createDocumentFragment();
    for (let i = 1; i <= n; i++) {
      frag.append(
        badLines.has(i) ? h('span', { class: 'bad-line', title: 'problem on this line' }, `⚠${i}`) : String(i),
        '\n',
      );
    }
    gutter.replaceChildren(frag);
    gutter.scrollTop = area.scrollTop;
  }

  function goToLine(line: number): void {
    const lines = area.value.split('\n');
    const at = lines.slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(at, at + (lines[line - 1]?.length ?? 0));
    const lh = parseFloat(getComputedStyle(area).lineHeight) || 19;
    area.scrollTop = Math.max(0, (line - 3) * lh);
  }

  function render(r: ConfigCheck): void {
    badLines = new Set(r.problems.map((p) => p.line).filter((l) => l > 0));
    renderGutter();
    if (r.ok) {
      status.className = 'small ok';
      status.textContent = `✓ Valid config${r.run ? ` (checkpoints go to this browser's storage as run "${r.run}")` : ''}.`;
    } else {
      status.className = 'small bad';
      status.textContent = `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:`;
    }
    list.replaceChildren(
      ...r.problems.map((p) =>
        h(
          'li',
          {},
          p.line
            ? h(
                'button',
                { type: 'button', onclick: () => goToLine(p.line), 'aria-label': `Go to line ${p.line}` },
                `line ${p.line}`,
              )
            : null,
          p.message,
        ),
      ),
      ...r.notes.map((n) => h('li', { class: 'muted' }, `note: ${n}`)),
    );
    app.set({ configOk: r.ok, configRun: r.run });
  }

  async function check(): Promise<void> {
    const mine = ++seq;
    const text = area.value;
    try {
      const r = await app.engine.checkConfig(text);
      if (mine === seq) render(r);
    } catch (e) {
      if (mine === seq)
        render({
          ok: false,
          run: null,
          notes: [],
          problems: [{ line: 0, key: null, message: String((e as Error).message ?? e) }],
        });
    }
  }

  const scheduleCheck = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), CHECK_DELAY_MS);
  };

  area.addEventListener('input', () => {
    renderGutter();
    app.set({ configOk: false });
    scheduleCheck();
  });
  area.addEventListener('scroll', () => (gutter.scrollTop = area.scrollTop));

  function setText(yaml: string): void {
    area.value = yaml;
    renderGutter();
    scheduleCheck();
  }

  apply.addEventListener('click', () => {
    const p = CONFIG_PRESETS.find((x) => x.id === preset.value);
    if (!p) return;
    let yaml = p.yaml;
    // Keep the loaded model and dataset.
    if (app.state.model) yaml = setYamlKey(yaml, 'model_name', yamlString(app.state.model.name));
    if (app.state.dataset) yaml = setYamlKey(yaml, 'data_path', yamlString(app.state.dataset.dataPath));
    setText(yaml);
  });

  app.onChange((s) => {
    area.readOnly = s.train !== 'idle';
    apply.disabled = s.train !== 'idle';
  });

  setText(CONFIG_PRESETS[0].yaml);
  return {
    text: () => area.value,
    setText,
    setKey: (key, value) => setText(setYamlKey(area.value, key, value === null ? 'null' : yamlString(value))),
  };
}
