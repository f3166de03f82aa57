import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DASHBOARDS } from '../k8s/monitoring/dashboards/definitions';
import { toGrafana } from '../k8s/monitoring/dashboards/grafana';
import { REPO_ROOT } from './support/mesha';

interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ refId: string; expr: string; datasource: { uid: string } }>;
}
interface GrafanaDashboard {
  uid: string;
  templating: { list: Array<{ name: string; query: unknown }> };
  panels: GrafanaPanel[];
}

/** Grafana's own variables that the dashboards use. */
const BUILT_IN = new Set(['__rate_interval', '__range', '__all']);

describe.each(DASHBOARDS.map((d) => [d.file, d] as const))('Grafana dashboard %s', (file, def) => {
  const committed = JSON.parse(
    readFileSync(resolve(REPO_ROOT, 'k8s/monitoring/dashboards', file), 'utf8'),
  ) as GrafanaDashboard;

  it('is the committed JSON of its definition (npm run k8s:render:monitoring)', () => {
    expect(committed).toEqual(toGrafana(def));
  });

  it('has unique panel ids, a grid 24 wide without overlaps, and every panel on $datasource', () => {
    const ids = committed.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const panel of committed.panels) {
      const { h, w, x, y } = panel.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const cell = `${row}:${col}`;
          expect({ panel: panel.title, cell, free: !cells.has(cell) }).toEqual({
            panel: panel.title,
            cell,
            free: true,
          });
          cells.add(cell);
        }
      }
      if (panel.type === 'row') continue;
      expect(panel.datasource?.uid).toBe('${datasource}');
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource.uid).toBe('${datasource}');
        expect(target.expr).toMatch(/\S/);
      }
    }
  });

  it('uses only variables it defines (or Grafana built-ins), and filters by namespace and workload', () => {
    const defined = new Set(committed.templating.list.map((v) => v.name));
    expect([...defined]).toEqual(
      expect.arrayContaining(['datasource', 'job', 'namespace', 'workload']),
    );
    const text = JSON.stringify(committed.panels) + JSON.stringify(committed.templating);
    const used = new Set([...text.matchAll(/\$\{?(\w+)/g)].map((m) => m[1]));
    for (const name of used) {
      expect({ name, known: defined.has(name) || BUILT_IN.has(name) }).toEqual({
        name,
        known: true,
      });
    }
    const exprs = committed.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.some((e) => e.includes('=~"$namespace"'))).toBe(true);
    expect(exprs.some((e) => e.includes('=~"$workload"'))).toBe(true);
  });
});
